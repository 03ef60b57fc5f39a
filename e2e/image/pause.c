/*
 * The pod sandbox's process for the local node: holds the pod's namespaces open and does nothing
 * else. PID 1 of the sandbox, so it reaps orphans (SIGCHLD) and exits on SIGINT/SIGTERM.
 * Written for this repository; built static by e2e/build-image.sh (`pause` image).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts("applink-e2e pause 1");
    return 0;
  }
  if (getpid() != 1) {
    fputs("pause: warning: not PID 1, orphans will not be reaped here\n", stderr);
  }
  struct sigaction stop = {0}, child = {0};
  stop.sa_handler = on_stop;
  child.sa_handler = on_child;
  child.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  for (;;) {
    pause();
  }
}
