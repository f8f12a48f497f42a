/* base_boost_none.c - the Boost baseline's place when it is not built. */

#include "bench/bench.h"

/* Never called: run_one reports not_built before preparing anything. */
static int
base_boost_none_prepare(struct run *r, char *err, size_t errlen)
{
	(void)r;
	(void)err;
	(void)errlen;
	return 1;
}

const struct transport bench_boost = {
    .name = "boost",
    .flavours = 1u << FL_PLAIN,
    .not_built = "configure found no boost/interprocess headers usable "
                 "with a C++ compiler (apt-get install libboost-dev), or "
                 "--without-boost",
    .prepare = base_boost_none_prepare,
};
