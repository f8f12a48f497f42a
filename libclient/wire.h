/* wire.h - the client's side of the hand codec, which lives in proto/wire.h. */

#ifndef CQ_LIBCLIENT_WIRE_H
#define CQ_LIBCLIENT_WIRE_H

#include "proto/wire.h"

#endif /* CQ_LIBCLIENT_WIRE_H */
