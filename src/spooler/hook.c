#include "hook.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOOK_MAX_ARGS 32

static int
split_command(char *cmd, char **argv)
{
	int argc = 0;

	for (char *tok = strtok(cmd, " \t"); tok != NULL; tok = strtok(NULL, " \t")) {
		if (argc == HOOK_MAX_ARGS)
			return -1;
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	return argc;
}

/* "NAME=value", malloc'd. */
static char *
env_pair(const char *name, const char *value)
{
	char *s = NULL;

	return asprintf(&s, "%s=%s", name, value ? value : "") < 0 ? NULL : s;
}

static char *
files_list(const struct task *t)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < t->nfiles; i++)
		if (t->files[i].done)
			len += strlen(t->files[i].path) + 1;
	if ((s = calloc(1, len)) == NULL)
		return NULL;
	for (size_t i = 0; i < t->nfiles; i++)
		if (t->files[i].done) {
			strcat(s, t->files[i].path);
			strcat(s, "\n");
		}
	return s;
}

/* Opens what the hook gets as stdout and stderr: output, or /dev/null. */
static int
open_output(const char *output)
{
	if (output == NULL)
		return open("/dev/null", O_WRONLY | O_CLOEXEC);
	return open(output, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
}

static void
child(char **argv, char **envp, int out)
{
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* Own process group, so a timeout kills the hook's children too. */
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	execve(argv[0], argv, envp);
	fprintf(stderr, "veo-spooler: hook %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Waits up to timeout seconds; then TERM, then KILL, to the group. */
static int
wait_hook(pid_t pid, const struct hook_opts *o, int *status)
{
	struct timespec step = { 0, 20 * 1000 * 1000 };
	long ticks = o->timeout * 50;

	for (long i = 0;; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid && i <= ticks)
			return 0;
		if (r == pid) {
			/* The hook is gone; a child of it that ignored SIGTERM is not. */
			kill(-pid, SIGKILL);
			return 1;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (o->tick != NULL && i % 50 == 49)
			o->tick(o->tick_arg);
		if (i == ticks)
			kill(-pid, SIGTERM);
		if (i == ticks + 100)
			kill(-pid, SIGKILL);
		nanosleep(&step, NULL);
	}
}

int
hook_run(const char *command, const struct task *t, const struct hook_opts *o,
    char *err, size_t errlen)
{
	char code[32], *argv[HOOK_MAX_ARGS + 1], *envp[9] = { 0 };
	char *cmd = strdup(command);
	int argc, status = 0, rc = -1, late, out = -1;
	pid_t pid;

	snprintf(code, sizeof code, "%lld", t->code);
	if (cmd == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((argc = split_command(cmd, argv)) < 0) {
		snprintf(err, errlen, "hook command has more than %d arguments", HOOK_MAX_ARGS);
		goto out;
	}
	if (argc == 0 || argv[0][0] != '/') {
		snprintf(err, errlen, "hook command must start with an absolute path");
		goto out;
	}
	envp[0] = env_pair("PATH", "/usr/local/bin:/usr/bin:/bin");
	envp[1] = env_pair("VEO_TASK_ID", t->task_id);
	envp[2] = env_pair("VEO_STATE", task_state_name(t->state));
	envp[3] = env_pair("VEO_DIR", t->dir);
	envp[4] = env_pair("VEO_CODE", code);
	envp[5] = env_pair("VEO_MSG", t->msg);
	envp[6] = env_pair("VEO_ERROR", t->error);
	envp[7] = files_list(t);
	if (envp[7] != NULL) {
		char *f = envp[7];

		envp[7] = env_pair("VEO_FILES", f);
		free(f);
	}
	for (int i = 0; i < 8; i++)
		if (envp[i] == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	if ((out = open_output(o->output)) < 0) {
		snprintf(err, errlen, "hook output %s: %s", o->output ? o->output : "/dev/null",
		    strerror(errno));
		goto out;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child(argv, envp, out);
	late = wait_hook(pid, o, &status);
	if (late < 0)
		snprintf(err, errlen, "%s: wait: %s", argv[0], strerror(errno));
	else if (late > 0)
		snprintf(err, errlen, "%s: killed after the %ld s hook_timeout", argv[0], o->timeout);
	else if (WIFSIGNALED(status))
		snprintf(err, errlen, "%s: killed by signal %d", argv[0], WTERMSIG(status));
	else if (WEXITSTATUS(status) == 127)
		snprintf(err, errlen, "%s: could not be run (exit 127)", argv[0]);
	else if (WEXITSTATUS(status) != 0)
		snprintf(err, errlen, "%s: exit status %d", argv[0], WEXITSTATUS(status));
	else
		rc = 0;
out:
	if (out >= 0)
		close(out);
	for (int i = 0; i < 8; i++)
		free(envp[i]);
	free(cmd);
	return rc;
}
