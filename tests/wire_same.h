/* wire_same.h - do two decodings of a Reply agree (tests and fuzz/). */

#ifndef CQ_TESTS_WIRE_SAME_H
#define CQ_TESTS_WIRE_SAME_H

#include "proto/conqueue.pb-c.h"
#include "proto/wire.h"

/*
 * NULL if a (wire_reply_unpack's) and b (protobuf-c's) hold the same
 * fields, else what differs. Only the fields wire_reply_unpack decodes may
 * be set in either.
 */
const char *wire_same_reply(const Conqueue__Reply *a, const Conqueue__Reply *b);
/* NULL if w (wire_reply_fast's) decodes like r (protobuf-c's), else what
 * differs. */
const char *wire_same_fast(
    const struct wire_reply *w, const Conqueue__Reply *r);
/*
 * NULL if wire_reply_pack writes r byte for byte as protobuf-c does (or
 * declines r exactly when it has fields of its own), else what differs.
 */
const char *wire_same_pack(const Conqueue__Reply *r);

/*
 * The arena wire_reply_unpack decodes into, as the client's: one block
 * handed out in order and never freed piecemeal. The Reply must be its
 * first allocation (wire_same_arena_base) and a decline allocates nothing.
 */
extern ProtobufCAllocator wire_same_arena;
void wire_same_arena_reset(void);
size_t wire_same_arena_used(void);
const void *wire_same_arena_base(void);

#endif /* CQ_TESTS_WIRE_SAME_H */
