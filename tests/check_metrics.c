/* check_metrics.c - OpenMetrics text: the formatter and GET /metrics. */

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/metrics.h"
#include "tests/om_lint.h"
#include "tests/testclient.h"

/* The metrics socket of the running test (in a private directory). */
static char mt_dir[64], mt_sock[128], mt_arg[160];

/* Render queues q[0..n-1] (and daemon figures) into a new string. */
static char *
mt_render(const struct metrics_daemon *d, const struct metrics_queue *q,
    size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(metrics_write(f, d, q, n), 0);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* Lint text; fail the test with the checker's reason. */
static void
mt_lint(const char *text)
{
	char err[512];

	if (om_lint(text, strlen(text), err, sizeof err) != 0)
		ck_abort_msg("not OpenMetrics: %s\n%s", err, text);
}

/* The value of series in text; fails when it is missing. */
static double
mt_value(const char *text, const char *series)
{
	double v;

	if (om_value(text, series, &v) != 0)
		ck_abort_msg("no %s in:\n%s", series, text);
	return v;
}

START_TEST(test_format_escapes_odd_names)
{
	struct metrics_queue q[3];
	struct metrics_daemon d = {"1.0\"x", 1500, 2, 3, 4, 5, 6};
	char *t;
	size_t len;

	memset(q, 0, sizeof q);
	q[0].name = "plain";
	q[0].depth = 7;
	q[0].pushed = 9;
	q[0].oldest_age_ms = 1234;
	q[0].waiting_poppers = 2;
	q[1].name = "quo\"te\\back\nline";
	q[1].depth = 1;
	q[2].name = "bad";
	q[2].quarantined = 1;
	t = mt_render(&d, q, 3);
	mt_lint(t);
	ck_assert_double_eq(mt_value(t, "conqueue_queue_depth{queue=\"plain\"}"),
	    7);
	ck_assert_double_eq(
	    mt_value(t, "conqueue_queue_pushed_total{queue=\"plain\"}"), 9);
	ck_assert_double_eq(
	    mt_value(t, "conqueue_queue_oldest_age_seconds{queue=\"plain\"}"),
	    1.234);
	ck_assert_double_eq(mt_value(t, "conqueue_queue_waiters{queue="
	                                "\"plain\",kind=\"pop\"}"),
	    2);
	ck_assert_double_eq(mt_value(t, "conqueue_queue_depth{queue="
	                                "\"quo\\\"te\\\\back\\nline\"}"),
	    1);
	ck_assert_double_eq(
	    mt_value(t, "conqueue_daemon_info{version=\"1.0\\\"x\"}"), 1);
	ck_assert_double_eq(mt_value(t, "conqueue_daemon_uptime_seconds"), 1.5);
	ck_assert_double_eq(mt_value(t, "conqueue_daemon_connections"), 2);
	/* A quarantined queue shows only as such. */
	ck_assert_double_eq(
	    mt_value(t, "conqueue_queue_quarantined{queue=\"bad\"}"), 1);
	ck_assert_ptr_null(strstr(t, "conqueue_queue_depth{queue=\"bad\"}"));
	len = strlen(t);
	ck_assert(len > 6 && strcmp(t + len - 6, "# EOF\n") == 0);
	free(t);
	/* No queues, no daemon: metadata only, still valid. */
	t = mt_render(NULL, NULL, 0);
	mt_lint(t);
	ck_assert_ptr_null(strstr(t, "quarantined"));
	free(t);
}
END_TEST

/* Lint must fail on text that breaks the grammar. */
static void
mt_reject(const char *text, const char *why)
{
	char err[512];

	if (om_lint(text, strlen(text), err, sizeof err) == 0)
		ck_abort_msg("om_lint accepted %s:\n%s", why, text);
}

START_TEST(test_lint_rejects_bad_text)
{
	mt_reject("# TYPE a gauge\na 1\n", "no # EOF");
	mt_reject("# TYPE a gauge\na 1\n# EOF\na 2\n", "text after # EOF");
	mt_reject("# TYPE a counter\na 1\n# EOF\n", "a counter without _total");
	mt_reject("# TYPE a gauge\na{q=\"x\\t\"} 1\n# EOF\n", "a bad escape");
	mt_reject("# TYPE a gauge\na{q=\"x\"} 1\na{q=\"x\"} 2\n# EOF\n",
	    "a repeated series");
	mt_reject("# TYPE a gauge\na 1\n# HELP a late\n# EOF\n",
	    "metadata after samples");
	mt_reject("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n"
	          "# EOF\n",
	    "a family declared twice");
	mt_reject("# TYPE a_s gauge\n# UNIT a_s bytes\na_s 1\n# EOF\n",
	    "a unit the name does not end with");
	mt_reject("# TYPE a gauge\na one\n# EOF\n", "a bad value");
	mt_reject("# TYPE a counter\na_total -1\n# EOF\n", "a negative counter");
	mt_reject("b 1\n# EOF\n", "a sample without TYPE");
}
END_TEST

/* Connect to the metrics listener: a socket path or 127.0.0.1:port. */
static int
mt_connect(const char *sock, int port)
{
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	int fd;

	if (sock != NULL) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(
		    connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
		return fd;
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	return fd;
}

/* Write all of s to fd. */
static void
mt_send(int fd, const char *s)
{
	size_t off = 0, len = strlen(s);
	ssize_t n;

	while (off < len) {
		n = write(fd, s + off, len - off);
		ck_assert_int_gt(n, 0);
		off += (size_t)n;
	}
}

/*
 * One HTTP/1.1 request (Connection: close) and its whole reply; returns
 * the status code, the headers in *head and the body in *body (free both).
 */
static int
mt_http(const char *sock, int port, const char *method, const char *path,
    char **head, char **body)
{
	char req[256], *buf = NULL, *sep;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd = mt_connect(sock, port), code = 0;

	snprintf(req, sizeof req,
	    "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	    method, path);
	mt_send(fd, req);
	for (;;) {
		if (len + 1 >= cap) {
			cap = cap ? 2 * cap : 65536;
			ck_assert_ptr_nonnull(buf = realloc(buf, cap));
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	ck_assert_ptr_nonnull(buf);
	buf[len] = '\0';
	ck_assert_int_eq(sscanf(buf, "HTTP/1.1 %d", &code), 1);
	ck_assert_ptr_nonnull(sep = strstr(buf, "\r\n\r\n"));
	*sep = '\0';
	*head = buf;
	*body = strdup(sep + 4);
	ck_assert_ptr_nonnull(*body);
	return code;
}

/* GET /metrics must answer 200 with valid text; returns the body. */
static char *
mt_scrape(const char *sock, int port)
{
	char *head, *body;

	ck_assert_int_eq(mt_http(sock, port, "GET", "/metrics", &head, &body),
	    200);
	ck_assert_ptr_nonnull(strcasestr(head, "Content-Type: " METRICS_CONTENT_TYPE));
	free(head);
	mt_lint(body);
	return body;
}

/* Start the test daemon with a metrics socket in a private directory. */
static void
mt_setup_unix(void)
{
	const char *extra[] = {mt_arg, NULL};

	snprintf(mt_dir, sizeof mt_dir, "/tmp/cqmetrics.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(mt_dir));
	snprintf(mt_sock, sizeof mt_sock, "%s/metrics.sock", mt_dir);
	snprintf(mt_arg, sizeof mt_arg, "--metrics-listen=%s", mt_sock);
	tc_setup_args(extra);
}

/* Remove the private directory (the daemon removed its socket). */
static void
mt_cleanup_unix(void)
{
	tc_cleanup();
	unlink(mt_sock);
	rmdir(mt_dir);
}

/* The series key of family for queue name. */
static const char *
mt_series(const char *family, const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof buf, "%s{queue=\"%s\"}", family, name);
	return buf;
}

/* Wait (bounded) until q has want parked poppers. */
static void
mt_wait_poppers(cq_queue *q, uint32_t want)
{
	cq_queue_stat st;
	int64_t end = tu_now_ms() + 30000;

	for (;;) {
		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		if (st.waiting_poppers == want)
			return;
		ck_assert_msg(tu_now_ms() < end, "no parked pop after 30 s");
		usleep(1000);
	}
}

START_TEST(test_scrape_unix_counts)
{
	cq_client *c = tc_conn();
	cq_queue *q = tc_mkq(c, "work", NULL), *e = tc_mkq(c, "idle", NULL);
	cq_queue_stat st;
	cq_msg *m;
	struct stat sb;
	char *t;
	pid_t pid;
	int status;

	ck_assert_int_eq(stat(mt_sock, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(cq_push(q, "a", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "b", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "c", 1, 0), CQ_OK);
	/* Due in an hour: delayed, in neither depth nor in flight. */
	ck_assert_int_eq(cq_push_delayed(q, "d", 1, 0, 3600000, 0), CQ_OK);
	ck_assert_int_eq(cq_pop(q, &m, 0), CQ_OK);
	cq_msg_free(m);
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_OK);
	/* A pop parked on the empty queue, in a child. */
	if ((pid = fork()) == 0) {
		cq_client *c2 = NULL;
		cq_queue *q2 = NULL;
		cq_msg *m2 = NULL;

		if (cq_connect(&c2, tc_d.sock) != CQ_OK ||
		    cq_open(c2, "idle", &q2) != CQ_OK ||
		    cq_pop(q2, &m2, 30000) != CQ_OK)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	mt_wait_poppers(e, 1);
	t = mt_scrape(mt_sock, 0);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_double_eq(mt_value(t, mt_series("conqueue_queue_depth", "work")), 1);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_in_flight", "work")), 1);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_pushed_total", "work")), 4);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_popped_total", "work")),
	    (double)st.total_popped);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_delayed", "work")), 1);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_capacity", "work")), 1024);
	ck_assert_double_eq(mt_value(t, "conqueue_queue_waiters{queue="
	                                "\"idle\",kind=\"pop\"}"),
	    1);
	ck_assert_double_eq(mt_value(t, "conqueue_daemon_queues"), 2);
	ck_assert(mt_value(t, "conqueue_daemon_connections") >= 2);
	free(t);
	ck_assert_int_eq(cq_push(e, "x", 1, 0), CQ_OK);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(cq_ack(q, cq_msg_id(m)), CQ_OK);
	cq_msg_free(m);
	t = mt_scrape(mt_sock, 0);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_in_flight", "work")), 0);
	ck_assert_double_eq(mt_value(t, "conqueue_queue_waiters{queue="
	                                "\"idle\",kind=\"pop\"}"),
	    0);
	free(t);
	cq_queue_free(q);
	cq_queue_free(e);
}
END_TEST

START_TEST(test_scrape_404_405)
{
	char *head, *body;

	ck_assert_int_eq(mt_http(mt_sock, 0, "GET", "/", &head, &body), 404);
	free(head);
	free(body);
	ck_assert_int_eq(
	    mt_http(mt_sock, 0, "GET", "/metricsx", &head, &body), 404);
	free(head);
	free(body);
	ck_assert_int_eq(
	    mt_http(mt_sock, 0, "POST", "/metrics", &head, &body), 405);
	ck_assert_ptr_nonnull(strcasestr(head, "Allow: GET"));
	free(head);
	free(body);
	ck_assert_int_eq(
	    mt_http(mt_sock, 0, "DELETE", "/metrics", &head, &body), 405);
	free(head);
	free(body);
	/* A query string is still /metrics. */
	free(mt_scrape(mt_sock, 0) /* plain */);
	ck_assert_int_eq(
	    mt_http(mt_sock, 0, "GET", "/metrics?x=1", &head, &body), 200);
	free(head);
	free(body);
}
END_TEST

/*
 * Clients killed mid-request (half a request line; a whole request never
 * read) leave the daemon serving scrapes and queue clients alike.
 */
START_TEST(test_scrape_client_killed)
{
	cq_client *c = tc_conn();
	cq_queue *q = tc_mkq(c, "k", NULL);
	pid_t pid[2];
	int i, status, fd;
	char *t;

	for (i = 0; i < 2; i++) {
		if ((pid[i] = fork()) == 0) {
			fd = mt_connect(mt_sock, 0);
			mt_send(fd, i == 0 ? "GET /metr"
			                   : "GET /metrics HTTP/1.1\r\n"
			                     "Host: x\r\n\r\n");
			/* Told the parent, wait to be killed. */
			if (write(STDOUT_FILENO, "", 0) < 0)
				_exit(1);
			raise(SIGSTOP);
			_exit(0);
		}
		ck_assert_int_gt(pid[i], 0);
		ck_assert_int_eq(waitpid(pid[i], &status, WUNTRACED), pid[i]);
		ck_assert(WIFSTOPPED(status));
	}
	for (i = 0; i < 2; i++) {
		kill(pid[i], SIGKILL);
		ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
	}
	ck_assert_int_eq(cq_push(q, "m", 1, 0), CQ_OK);
	t = mt_scrape(mt_sock, 0);
	ck_assert_double_eq(mt_value(t, mt_series("conqueue_queue_depth", "k")), 1);
	free(t);
	ck_assert_int_eq(cq_ping(c), CQ_OK);
	cq_queue_free(q);
}
END_TEST

/*
 * The daemon killed with a scrape open: the scraper sees the connection
 * end, and a restarted daemon replaces the stale socket file and reports
 * the same counts (nothing acknowledged was lost).
 */
START_TEST(test_scrape_daemon_killed)
{
	const char *extra[] = {mt_arg, NULL};
	cq_client *c = tc_conn();
	cq_queue *q = tc_mkq(c, "keep", NULL);
	char buf[64], *t;
	int fd;
	ssize_t n;

	ck_assert_int_eq(cq_push(q, "1", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "2", 1, 0), CQ_OK);
	fd = mt_connect(mt_sock, 0);
	mt_send(fd, "GET /metrics HTTP/1.1\r\nHost:");
	tu_daemon_kill(&tc_d);
	while ((n = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
		;
	ck_assert_int_le(n, 0);
	close(fd);
	cq_queue_free(q);
	cq_disconnect(c);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, extra), 0);
	t = mt_scrape(mt_sock, 0);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_depth", "keep")), 2);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_pushed_total", "keep")), 2);
	free(t);
}
END_TEST

/* A free loopback port, as far as bind knows now. */
static int
mt_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

START_TEST(test_scrape_tcp_loopback)
{
	char arg[64], *t, *head, *body;
	const char *extra[] = {arg, NULL};
	struct tu_daemon d;
	cq_client *c = NULL;
	cq_queue *q;
	int port = 0, tries;

	/* Another process may take the port in between: try a few. */
	for (tries = 0; tries < 5; tries++) {
		port = mt_free_port();
		snprintf(arg, sizeof arg, "--metrics-listen=127.0.0.1:%d",
		    port);
		if (tu_daemon_start(&d, extra) == 0)
			break;
	}
	ck_assert_int_lt(tries, 5);
	ck_assert_int_eq(cq_connect(&c, d.sock), CQ_OK);
	q = tc_mkq(c, "tcp", NULL);
	ck_assert_int_eq(cq_push(q, "x", 1, 0), CQ_OK);
	t = mt_scrape(NULL, port);
	ck_assert_double_eq(
	    mt_value(t, mt_series("conqueue_queue_depth", "tcp")), 1);
	free(t);
	ck_assert_int_eq(mt_http(NULL, port, "GET", "/", &head, &body), 404);
	free(head);
	free(body);
	ck_assert_int_eq(
	    mt_http(NULL, port, "PUT", "/metrics", &head, &body), 405);
	free(head);
	free(body);
	cq_queue_free(q);
	cq_disconnect(c);
	tu_daemon_cleanup(&d);
}
END_TEST

START_TEST(test_refuses_non_loopback)
{
	static const char *const bad[] = {"--metrics-listen=192.0.2.1:9464",
	    "--metrics-listen=0.0.0.0:9464", "--metrics-listen=[::]:9464",
	    "--metrics-listen=example.com:80", "--metrics-listen=9464",
	    "--metrics-listen=127.0.0.1:99999", NULL};
	char dir[64] = "/tmp/cqmetrics.XXXXXX", sock[96], err[1024];
	const char *args[] = {"-s", sock, NULL, NULL};
	int i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/s", dir);
	for (i = 0; bad[i] != NULL; i++) {
		args[2] = bad[i];
		ck_assert_int_ne(tu_daemon_run(args, err, sizeof err), 0);
		ck_assert_msg(strstr(err, "metrics_listen") != NULL,
		    "%s: %s", bad[i], err);
		/* Refused before anything was made. */
		ck_assert_int_ne(access(sock, F_OK), 0);
	}
	args[2] = "--metrics-listen=192.0.2.1:9464";
	tu_daemon_run(args, err, sizeof err);
	ck_assert_ptr_nonnull(strstr(err, "loopback"));
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc;

	tc = tcase_create("format");
	tcase_add_test(tc, test_format_escapes_odd_names);
	tcase_add_test(tc, test_lint_rejects_bad_text);
	suite_add_tcase(s, tc);
	tc = tcase_create("unix");
	tcase_add_checked_fixture(tc, mt_setup_unix, mt_cleanup_unix);
	tcase_add_test(tc, test_scrape_unix_counts);
	tcase_add_test(tc, test_scrape_404_405);
	tcase_add_test(tc, test_scrape_client_killed);
	tcase_add_test(tc, test_scrape_daemon_killed);
	suite_add_tcase(s, tc);
	tc = tcase_create("tcp");
	tcase_add_test(tc, test_scrape_tcp_loopback);
	tcase_add_test(tc, test_refuses_non_loopback);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(metrics_suite(), "metrics");
}
