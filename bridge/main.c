/* main.c - conqueue-bridge: options, the NATS connection, route threads,
 * signals and the periodic stats file. */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge/bridge.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* Print the usage to f. */
static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: conqueue-bridge [-c CONFIG] [-s SOCKET] [-u NATS_URL] "
	    "[-n] [-h] [-V]\n"
	    "  -c, --config FILE  routes and settings (default " SYSCONFDIR
	    "/conqueue-bridge.conf)\n"
	    "  -s, --socket PATH  conqueued socket (overrides socket =)\n"
	    "  -u, --url URL      NATS server (overrides nats_url =)\n"
	    "  -n, --check        check the config and exit\n"
	    "  -h, --help         this help\n"
	    "  -V, --version      print the version\n"
	    "SIGUSR1 logs the status; SIGTERM/SIGINT stop.\n");
}

/* libnats lost the server: its own reconnect loop takes over. */
static void
main_disconnected(natsConnection *nc, void *arg)
{
	struct bridge *b = arg;

	atomic_store(&b->nats_up, 0);
	if (!atomic_load(&b->stop))
		blog("warning", NULL, "NATS disconnected; reconnecting");
}

/* libnats is (back) in touch with a server. */
static void
main_connected(natsConnection *nc, void *arg)
{
	struct bridge *b = arg;

	atomic_store(&b->nats_up, 1);
	atomic_fetch_add(&b->nats_reconnects, 1);
	blog("info", NULL, "NATS connected to %s", b->nats_url);
}

/*
 * Connect to NATS, retrying forever in the background (with jitter) both
 * at start and after a loss, so the routes come up whenever it does.
 */
static int
main_nats(struct bridge *b, natsOptions **opts)
{
	char name[300];
	natsStatus s;

	snprintf(name, sizeof name, "conqueue-bridge %s", b->instance);
	s = natsOptions_Create(opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(*opts, b->nats_url);
	if (s == NATS_OK)
		s = natsOptions_SetName(*opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(*opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(*opts, 250);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectJitter(*opts, 250, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(*opts, main_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(*opts, main_connected, b);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(
		    *opts, true, main_connected, b);
	if (s == NATS_OK) {
		s = natsConnection_Connect(&b->nc, *opts);
		if (s == NATS_OK)
			main_connected(b->nc, b);
		else if (s == NATS_NOT_YET_CONNECTED) {
			blog("warning", NULL,
			    "NATS %s not reachable yet; retrying", b->nats_url);
			s = NATS_OK;
		}
	}
	if (s != NATS_OK) {
		blog("error", NULL, "NATS %s: %s", b->nats_url,
		    natsStatus_GetText(s));
		return -1;
	}
	return 0;
}

/* Write the stats file if one is configured, logging a failure once. */
static void
main_stats(struct bridge *b, int *warned)
{
	if (b->stats_file == NULL)
		return;
	if (log_stats(b, b->stats_file) != 0) {
		if (!*warned)
			blog("warning", NULL, "stats file %s: %s",
			    b->stats_file, strerror(errno));
		*warned = 1;
	} else
		*warned = 0;
}

/* Wait for signals; write the stats file every interval. */
static void
main_loop(struct bridge *b, const sigset_t *set)
{
	struct timespec ts;
	int sig, warned = 0;

	ts.tv_sec = b->stats_interval_ms / 1000;
	ts.tv_nsec = (long)(b->stats_interval_ms % 1000) * 1000000L;
	main_stats(b, &warned);
	while (!atomic_load(&b->stop)) {
		sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			blog("info", NULL, "stopping");
			atomic_store(&b->stop, 1);
		} else if (sig == SIGUSR1)
			log_status(b);
		main_stats(b, &warned);
	}
}

/* Start every route's thread; 0, or -1 (the started ones are joined). */
static int
main_start(struct bridge *b)
{
	struct route *r;
	size_t i;
	int e;

	for (i = 0; i < b->nroutes; i++) {
		r = &b->routes[i];
		e = pthread_create(&r->thread, NULL,
		    r->kind == ROUTE_OUT ? out_run : in_run, r);
		if (e != 0) {
			blog("error", r->name, "thread: %s", strerror(e));
			atomic_store(&b->stop, 1);
			return -1;
		}
		r->started = 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 's'},
	    {"url", required_argument, NULL, 'u'},
	    {"check", no_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	const char *config = SYSCONFDIR "/conqueue-bridge.conf";
	const char *socket = NULL, *url = NULL;
	natsOptions *opts = NULL;
	struct bridge b;
	char *cause = NULL;
	int ch, check = 0, rc = 1;
	sigset_t set;
	size_t i;

	while (
	    (ch = getopt_long(argc, argv, "c:s:u:nhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 's':
			socket = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		case 'V':
			printf("conqueue-bridge %s\n", PACKAGE_VERSION);
			return 0;
		default:
			main_usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 1;
	}
	memset(&b, 0, sizeof b);
	if (conf_load(&b, config, &cause) != 0) {
		fprintf(stderr, "conqueue-bridge: %s\n",
		    cause != NULL ? cause : "out of memory");
		free(cause);
		conf_free(&b);
		return 1;
	}
	if ((socket != NULL &&
	        (free(b.socket), (b.socket = strdup(socket)) == NULL)) ||
	    (url != NULL &&
	        (free(b.nats_url), (b.nats_url = strdup(url)) == NULL))) {
		fprintf(stderr, "conqueue-bridge: out of memory\n");
		conf_free(&b);
		return 1;
	}
	if (check) {
		printf("%s: %zu route(s) OK\n", config, b.nroutes);
		conf_free(&b);
		return 0;
	}

	/* Signals go to main_loop only, never to a route or libnats thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (nats_Open(-1) != NATS_OK) {
		blog("error", NULL, "cannot initialise libnats");
		conf_free(&b);
		return 1;
	}
	blog("info", NULL, "instance %s, %zu route(s), NATS %s", b.instance,
	    b.nroutes, b.nats_url);
	if (main_nats(&b, &opts) == 0 && main_start(&b) == 0) {
		main_loop(&b, &set);
		rc = 0;
	}
	atomic_store(&b.stop, 1);
	for (i = 0; i < b.nroutes; i++)
		if (b.routes[i].started)
			pthread_join(b.routes[i].thread, NULL);
	if (b.stats_file != NULL)
		log_stats(&b, b.stats_file);
	if (b.nc != NULL)
		natsConnection_Destroy(b.nc);
	natsOptions_Destroy(opts);
	nats_CloseAndWait(5000);
	blog("info", NULL, "stopped");
	conf_free(&b);
	return rc;
}
