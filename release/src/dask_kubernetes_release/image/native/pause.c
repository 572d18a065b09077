/*
 * The sandbox ("pause") container's one process: it holds the pod's namespaces open and does
 * nothing else. Written for this project (no registry to pull a pause image from): it waits
 * for SIGTERM or SIGINT and exits 0, and as PID 1 of a pod that shares its PID namespace it
 * reaps orphaned children so they never linger as zombies. Built with `gcc -static`, so the
 * image needs no libc.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Never runs (the signals are blocked and taken by sigwait); installed so that no signal we
 * wait for has the default disposition, which PID 1 of a namespace would drop. */
static void ignore(int signo) { (void)signo; }

int main(int argc, char **argv) {
    sigset_t wanted;
    struct sigaction action;
    int signo;

    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("pause (dask-kubernetes)");
        return 0;
    }
    if (getpid() != 1) {
        fputs("pause: warning: not PID 1\n", stderr);
    }
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGCHLD);
    memset(&action, 0, sizeof action);
    action.sa_handler = ignore;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGCHLD, &action, NULL);
    if (sigprocmask(SIG_BLOCK, &wanted, NULL) != 0) {
        perror("pause: sigprocmask");
        return 1;
    }
    for (;;) {
        if (sigwait(&wanted, &signo) != 0) {
            continue;
        }
        if (signo == SIGCHLD) {
            while (waitpid(-1, NULL, WNOHANG) > 0) {
            }
            continue;
        }
        fprintf(stderr, "pause: signal %d, exiting\n", signo);
        return 0;
    }
}
