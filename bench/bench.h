/* bench.h - shared types of conqueue-bench: workloads, runs, transports. */

#ifndef CQ_BENCH_H
#define CQ_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" { /* bench/base_boost.cpp */
#endif

#define BENCH_MAXPROC 8 /* most producers (or consumers) of one run */
#define BENCH_HDR     8 /* message header: producer id, sequence (LE) */
#define BENCH_MAXREPS 31
#define BENCH_MAXCFGS 12
#define BENCH_MAXWLS  8

/* What a workload measures. */
enum wl_kind {
	WL_STREAM,   /* producers -> one queue -> consumers: msg/s */
	WL_PINGPONG, /* request queue, reply queue: round-trip latency */
};

/* Calling style of a run; baselines have only FL_PLAIN. */
enum flavour {
	FL_PLAIN = 0, /* a baseline's one way of doing it */
	FL_SYNC,      /* one blocking call per message */
	FL_ASYNC,     /* async API, a window of ops in flight */
	FL_BATCH,     /* async push_many / pop_many, batches in flight */
	FL_SBATCH,    /* blocking push_many / pop_many, one batch a call */
	/* The same on the direct path; the four above use the socket. */
	FL_DSYNC,   /* sync, direct */
	FL_DBATCH,  /* batch, direct */
	FL_DSBATCH, /* sbatch, direct */
	FL_COUNT
};

/* One reference workload (or a size of the sweep). */
struct wl {
	char name[16]; /* "A-64" */
	enum wl_kind kind;
	int nprod, ncons;
	size_t size;   /* message bytes */
	uint64_t n;    /* messages (stream) or measured round trips */
	uint64_t warm; /* warm-up round trips (ping-pong) */
};

/* Options of the whole program. */
struct bench_cfg {
	int reps;
	int quick;
	int window;    /* async ops in flight per process */
	int batch;     /* messages per push_many/pop_many */
	int batches;   /* async batches in flight per process */
	int timeout_s; /* bound of one run */
	int verbose;
	const char *daemon;  /* conqueued binary */
	const char *plotdat; /* size sweep data file, or NULL */
};

/* What one child process reports to the parent (fits in PIPE_BUF). */
struct child_res {
	int role; /* 0 producer/client, 1 consumer/server */
	int idx;
	int ok;
	char err[200];
	uint64_t t_first, t_last; /* CLOCK_MONOTONIC ns */
	uint64_t count;
	uint64_t cnt[BENCH_MAXPROC], sum[BENCH_MAXPROC], sq[BENCH_MAXPROC];
	uint64_t lat[3]; /* ping-pong p50, p99, p99.9 in ns */
};

/* One run in progress (the parent fills it; children inherit it). */
struct run {
	const struct wl *wl;
	enum flavour fl;
	const struct bench_cfg *cfg;
	int ready_fd; /* child writes one byte when set up */
	int go_fd;    /* child reads EOF here: the barrier */
	int batch;    /* messages per batch call for this size */
	void *ctx;    /* the transport's state */
};

/* A transport under test: conqueue or a baseline. */
struct transport {
	const char *name;
	unsigned flavours; /* bit per enum flavour */
	int is_conqueue;
	const char *not_built; /* why this build lacks it, or NULL */
	/*
	 * Parent: make the queues of run r: 0, -1 failed, or 1 not possible
	 * on this host (a skip, not a failure); err says why.
	 */
	int (*prepare)(struct run *r, char *err, size_t errlen);
	/* Child: set up, wait at the barrier, produce (or ping-pong client). */
	void (*produce)(struct run *r, int idx, struct child_res *res);
	/* Child: set up, wait at the barrier, consume (or ping-pong server). */
	void (*consume)(struct run *r, int idx, struct child_res *res);
	/* Parent: every producer is done: let the consumers finish. */
	int (*finish)(struct run *r, char *err, size_t errlen);
	/* Parent: remove the queues. */
	void (*cleanup)(struct run *r);
};

/* The command line: the program's options and what to run. */
struct options {
	struct bench_cfg cfg;
	const char *wlist, *systems, *flavours; /* lists; NULL: all */
	int sizes, scale, instr, durable;       /* extra parts asked for */
	const char *state_dir; /* --durable: parent of the logs' directory */
};

/* The outcome of one run. */
struct result {
	int ok;
	int skipped; /* not applicable here (err says why): not a failure */
	char err[256];
	double value;  /* msg/s (stream) or p50 us (ping-pong) */
	double lat[3]; /* p50, p99, p99.9 us (ping-pong) */
	double dcpu_s; /* daemon CPU during the run */
};

/* One transport + flavour measured on a workload. */
struct bcfg {
	const struct transport *tr;
	enum flavour fl;
};

/* Per-consumer verification of the messages it receives. */
struct checker {
	const struct wl *wl;
	uint64_t next[BENCH_MAXPROC];
	struct child_res *res;
};

/* bench.c: barrier, messages, checks, errors. */
void bench_barrier(struct run *r);
uint64_t bench_now(void);
void bench_fill(uint8_t *buf, size_t size, uint32_t prod, uint32_t seq);
void bench_checker_init(
    struct checker *ck, const struct wl *wl, struct child_res *res);
int bench_check(struct checker *ck, const void *data, size_t len);
void bench_fail(struct child_res *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t bench_per_prod(const struct wl *wl, int prod);
int bench_lat_pct(uint64_t *lat, size_t n, uint64_t out[3]);
/* A baseline's round trip, request and reply (ping-pong helpers below). */
typedef ssize_t (*bench_rt_fn)(
    void *arg, const uint8_t *req, size_t len, uint8_t *back, size_t cap);
typedef ssize_t (*bench_get_fn)(void *arg, uint8_t *buf, size_t cap);
typedef int (*bench_put_fn)(void *arg, const uint8_t *buf, size_t len);
/* The ping-pong client and server loops (B-64) shared by the baselines. */
void bench_pingpong_client(struct run *r, struct child_res *res, size_t cap,
    bench_rt_fn rt, void *arg);
void bench_pingpong_server(struct run *r, struct child_res *res, size_t cap,
    bench_get_fn get, bench_put_fn put, void *arg);
/* The stream producer loop (A, C) shared by the baselines. */
void bench_stream_produce(
    struct run *r, int idx, struct child_res *res, bench_put_fn put, void *arg);
void *bench_xmalloc(size_t n);

extern const char *const bench_fl_names[FL_COUNT];
int bench_fl_direct(enum flavour fl);
enum flavour bench_fl_base(enum flavour fl);

/* options.c: the command line. */
void options_usage(FILE *f);
int options_in_list(const char *list, const char *word);
int options_parse(int argc, char **argv, struct options *o);

/* run.c: one run of a workload, and the program's daemon. */
extern struct bdaemon run_daemon;
extern int run_have_daemon;
void run_on_signal(int sig);
void run_one(const struct bench_cfg *cfg, const struct transport *tr,
    const struct wl *wl, enum flavour fl, struct result *out);

/* report.c: statistics of the reps, figures and targets. */
double report_median(const struct result *rs, int n, int field);
void report_range(const struct result *rs, int n, double *lo, double *hi);
void report_fmt(char *buf, size_t len, double v);
double report_fig(struct result (*res)[BENCH_MAXCFGS][BENCH_MAXREPS],
    struct bcfg (*cfgs)[BENCH_MAXCFGS], int *ncfg, int reps, int wi,
    const struct transport *tr, enum flavour fl, int field);
void report_ratio(double r);
void report_target(
    const char *what, double ratio, double want, int higher, const char *unit);

/* workloads.c: the reference workloads and the size sweep. */
int workloads_run(const struct bench_cfg *cfg, const char *wlist,
    const char *systems, const char *flavours);
int workloads_sizes(
    const struct bench_cfg *cfg, const char *systems, const char *flavours);

/* profile.c: the daemon under callgrind and strace. */
int profile_instructions(
    struct bench_cfg *cfg, const char *wlist, const char *flavours);
double profile_cg_total(const char *path);

/* base.c, base_mq.c: the baselines. */
extern const struct transport bench_sockpair;
extern const struct transport bench_mq;
extern const struct transport bench_relay;
extern const struct transport bench_boost; /* base_boost.cpp or _none.c */
int base_mq_setup(char *note, size_t len);
void base_mq_restore(void);
void base_mq_report(FILE *f);

/* daemon.c: a private conqueued. */
struct bdaemon {
	char dir[128];
	char sock[200];
	char instance[64];
	char log[200];
	pid_t pid;
};
int bdaemon_start(struct bdaemon *d, const char *prog, const char *config,
    const char *const *wrap);
int bdaemon_stop(struct bdaemon *d);
void bdaemon_cleanup(struct bdaemon *d);
int bdaemon_alive(const struct bdaemon *d);
double bdaemon_cpu_s(pid_t pid);
long bdaemon_status_kb(pid_t pid, const char *field);

/* cq.c: conqueue as a transport. */
extern const struct transport bench_conqueue;
int cqt_init(const char *sock, char *err, size_t errlen);
void cqt_fini(void);
struct cq_daemon_info;
int cqt_info(struct cq_daemon_info *info);
/* The durability cqt_prepare gives its queues (an enum cq_durable). */
extern int cqt_durable;
extern uint64_t cqt_last_syncs; /* log fdatasyncs of the last run */
/*
 * The max_bytes that lets a queue of attr hold capacity messages of
 * max_size, as the fixed-slot layout's did (issue 17): the throughput
 * workloads keep their queues as deep as before, so the comparison with
 * that layout is like with like. The memory figures use the default.
 */
struct cq_queue_attr;
uint64_t cqt_slot_bytes(const struct cq_queue_attr *attr);

/* durable.c: durable queues against plain ones (issue 15). */
int durable_run(const struct bench_cfg *cfg, const char *state_dir);

/* scale.c: cost per message against depth, queues, connections. */
int scale_run(const struct bench_cfg *cfg, const struct bdaemon *d);

/* memory.c: resident memory of queues (the scale mode's last part). */
struct cq_client;
int memory_run(const struct bench_cfg *cfg, const struct bdaemon *d,
    struct cq_client *cl);

/* pairs.c: instructions of a direct push + pop pair (--instructions). */
int pairs_child(int argc, char **argv);
int pairs_profile(const struct bench_cfg *cfg);

#ifdef __cplusplus
}
#endif

#endif /* CQ_BENCH_H */
