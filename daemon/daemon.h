/* daemon.h - every public module header of conqueued, for harnesses. */

/*
 * Each daemon module has its own header (config.h, log.h, htab.h,
 * waiters.h, registry.h, peer.h, dispatch.h, conn.h, listener.h,
 * notify.h, crashpoint.h); daemon files include just the ones they use.
 * This umbrella is only for the tests and fuzzers that drive the daemon's
 * modules from outside: no daemon file includes it.
 */

#ifndef CQ_DAEMON_H
#define CQ_DAEMON_H

#include "common/common.h"
#include "conqueue/conqueue.h"
#include "daemon/config.h"
#include "daemon/conn.h"
#include "daemon/crashpoint.h"
#include "daemon/dispatch.h"
#include "daemon/htab.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/peer.h"
#include "daemon/registry.h"
#include "daemon/waiters.h"

#endif /* CQ_DAEMON_H */
