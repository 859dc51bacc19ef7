/*
 * proc_maps_race - page-boundary tearing test for fakeproc's maps and smaps.
 *
 * This follows the method of the kernel selftest
 * tools/testing/selftests/proc/proc-maps-race.c, but drives a simulated
 * process of a fakeproc mount instead of a real child:
 *
 *  - The parent spawns a simulated process through MNT/ctl.
 *  - A forked helper plays that process.  Through MNT/<pid>/ctl it maps a
 *    one-page "patch slot" and then NR_VMAS three-page anonymous mappings
 *    with alternating protections.  Top-down placement makes them adjacent
 *    and descending, and the alternating protections keep them apart.
 *  - The parent finds a read(2) page of MNT/<pid>/maps (or smaps) whose last
 *    entry is one of those mappings (the target) and whose following page
 *    starts with the next one.  The target sits right at a page boundary.
 *  - The helper then changes the target and restores it, over and over,
 *    while the parent re-reads the two pages around the boundary and checks
 *    that the last entry of the first page and the first entry of the second
 *    page always show either the modified or the restored layout; a VMA may
 *    be shown twice, but a gap where memory is mapped must never appear.
 *  - A separate descriptor of MNT/<pid>/ctl runs "query ADDR" (the
 *    PROCMAP_QUERY equivalent) at the changing address in every iteration,
 *    on a thread of its own so that it overlaps the two page reads.
 *  - The daemon serves reader and helper on one thread, so round trips are
 *    what the test's speed is made of: the helper sends each change in a
 *    write of its own but reads the result lines back only in batches.
 *
 * Patterns (A = target start, P = 4096, T = the target's protection):
 *   split:  modify  mmap A 1P --- fixed          -> [A,A+P) --- | [A+P,A+3P) T
 *           restore mmap A 1P T fixed            -> [A,A+3P) T
 *   resize: modify  mremap A 3P -> 1P            -> [A,A+P) T, gap
 *           restore mremap A 1P -> 3P            -> [A,A+3P) T
 *   remap:  modify  mremap SLOT 1P maymove,fixed to A+P
 *                                                -> [A,A+P) T | [A+P,A+2P) --- | ...
 *           restore mmap A+P 1P T fixed, then recreate the slot page
 *                                                -> [A,A+3P) T
 *
 * Usage: proc_maps_race MOUNTPOINT [TEST...]
 *   TEST is split_maps, split_smaps, resize_maps, resize_smaps, remap_maps
 *   or remap_smaps (default: all).  Environment: DURATION (seconds per
 *   test, default 5), VERBOSE=1 (print boundary lines), LOCK_MODE (passed
 *   as lock=MODE to spawn; default: the daemon's default).  A failed test
 *   prints "# TEST: first failure after X s", counted from the start of
 *   its race.
 *
 * Build: gcc -O2 -Wall -Werror -pthread -o proc_maps_race proc_maps_race.c
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#define PG		4096UL		/* seq_file page and VMA page size */
#define NR_VMAS		129		/* enough 3-page VMAs to fill more than one maps page */
#define LINE_LEN	256
#define MSG_LEN		1024
#define CHILD_TIMEOUT	60.0		/* seconds for one handshake step */

enum pattern { PAT_SPLIT, PAT_RESIZE, PAT_REMAP };
enum which_file { FILE_MAPS, FILE_SMAPS };

struct test_desc {
	const char *name;
	enum pattern pat;
	enum which_file file;
};

static const struct test_desc all_tests[] = {
	{ "split_maps", PAT_SPLIT, FILE_MAPS },
	{ "split_smaps", PAT_SPLIT, FILE_SMAPS },
	{ "resize_maps", PAT_RESIZE, FILE_MAPS },
	{ "resize_smaps", PAT_RESIZE, FILE_SMAPS },
	{ "remap_maps", PAT_REMAP, FILE_MAPS },
	{ "remap_smaps", PAT_REMAP, FILE_SMAPS },
};
#define NR_TESTS ((int)(sizeof(all_tests) / sizeof(all_tests[0])))

/* Handshake states kept in shared memory.  Each side only writes the
 * states it owns, so one word is enough; "stop" is a separate flag that
 * the parent may raise at any time. */
enum state {
	S_INIT,
	S_CHILD_READY,		/* child: all mappings made */
	S_PARENT_READY,		/* parent: target chosen */
	S_SETUP_READY,		/* child: waiting for the first modification */
	S_DO_MODIFY,		/* parent: please modify once */
	S_MODIFIED,		/* child: modified */
	S_DO_RESTORE,		/* parent: please restore once */
	S_RESTORED,		/* child: restored */
	S_RUN,			/* parent: modify/restore until stop */
	S_FAILED,		/* child: gave up, see err */
};

struct shared {
	int state;
	int stop;
	int pattern;
	unsigned long slot;		/* the patch page for the remap pattern */
	unsigned long vma[NR_VMAS];	/* start of each 3-page mapping */
	unsigned long target;		/* start of the VMA at the page boundary */
	char prot[4];			/* its protection, e.g. "rw-" */
	unsigned long cycles;		/* modify+restore pairs done in S_RUN */
	char err[MSG_LEN];
};

/* One VMA entry: a maps line, or the header line of an smaps record. */
struct vline {
	char text[LINE_LEN];
	unsigned long start, end;
	char perms[5];
};

struct page {
	char buf[PG + 1];
	size_t len;
};

struct ctx {
	const struct test_desc *t;
	const char *mnt;
	struct shared *sh;
	pid_t child;
	long simpid;
	int mfd;		/* maps or smaps */
	int qfd;		/* per-process ctl used for queries */
	int skip;		/* pages before the boundary page */
	bool verbose;
	double duration;
	struct page p1, p2;
	char why[MSG_LEN];
};

/* snprintf that always truncates quietly (messages may be cut short). */
static void __attribute__((format(printf, 3, 4)))
fmt(char *dst, size_t size, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vsnprintf(dst, size, format, ap);
	va_end(ap);
}

/* ---- small helpers ---------------------------------------------------- */

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void backoff(unsigned int *spins)
{
	struct timespec ts = { 0, 50 * 1000 };

	if ((*spins)++ < 200)
		sched_yield();
	else
		nanosleep(&ts, NULL);
}

static int st_get(struct shared *sh)
{
	return __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE);
}

static void st_set(struct shared *sh, int st)
{
	__atomic_store_n(&sh->state, st, __ATOMIC_RELEASE);
}

static bool stop_requested(struct shared *sh)
{
	return __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) != 0;
}

/* Copy commands into dst with newlines shown as "; ", for messages. */
static void flatten(const char *src, char *dst, size_t size)
{
	size_t n = 0;

	for (; *src && n + 3 < size; src++) {
		if (*src == '\n') {
			if (src[1] == '\0')
				break;
			dst[n++] = ';';
			dst[n++] = ' ';
		} else {
			dst[n++] = *src;
		}
	}
	dst[n] = '\0';
}

static bool parse_ulong(const char *s, unsigned long *val)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*val = strtoul(s, &end, 0);
	if (errno)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	return *end == '\0';
}

/* Write "\n"-terminated command lines in one write(2); 0 or the errno. */
static int ctl_write(int fd, const char *cmds)
{
	size_t len = strlen(cmds);
	ssize_t n;

	do
		n = write(fd, cmds, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	return (size_t)n == len ? 0 : EIO;
}

/*
 * Read result lines into res (NUL-terminated) until want of them have
 * arrived, or, with want < 0, until nothing more is pending (a read with
 * nothing pending returns 0).  Returns how many lines arrived.
 */
static int ctl_collect(int fd, int want, char *res, size_t size)
{
	size_t have = 0;
	int got = 0;
	ssize_t n;

	while (have < size - 1 && (want < 0 || got < want)) {
		n = read(fd, res + have, size - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			got += (res[have + i] == '\n');
		have += n;
	}
	res[have] = '\0';
	return got;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += (*s == '\n');
	return n;
}

/*
 * Run one write holding one or more "\n"-terminated command lines on an
 * open ctl file, and collect the result lines (one per command run).
 * On success return 0 and copy the last result line into out.  On failure
 * return -1 and describe it in err.
 */
static int ctl_run(int fd, const char *cmds, char *out, size_t outsz,
		   char *err, size_t errsz)
{
	char res[4096], shown[512];
	int want = count_lines(cmds), got, werr;
	char *line, *last = NULL;

	werr = ctl_write(fd, cmds);
	/* On failure read whatever is pending: the error line says why. */
	got = ctl_collect(fd, werr ? -1 : want, res, sizeof(res));

	flatten(cmds, shown, sizeof(shown));
	if (werr) {
		char pending[512];

		flatten(res, pending, sizeof(pending));
		fmt(err, errsz, "'%s' failed: %s%s%s", shown,
			 strerror(werr), *pending ? "; ctl says: " : "", pending);
		return -1;
	}
	if (got < want) {
		fmt(err, errsz, "'%s': expected %d result line(s), got %d", shown,
			 want, got);
		return -1;
	}
	for (line = res; *line; ) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (!strncmp(line, "error:", 6)) {
			fmt(err, errsz, "'%s' succeeded but reported '%s'", shown, line);
			return -1;
		}
		last = line;
		if (!nl)
			break;
		line = nl + 1;
	}
	if (!last) {
		fmt(err, errsz, "'%s': no result line", shown);
		return -1;
	}
	fmt(out, outsz, "%s", last);
	return 0;
}

/*
 * Parse "START-END PERMS ..." (a maps line or an smaps header line).
 * Field lines of smaps ("Size:  ...", "AnonHugePages: ...") do not match.
 */
static bool parse_entry(const char *s, size_t len, struct vline *v)
{
	char tmp[LINE_LEN];
	char *p, *e;
	unsigned long start, end;

	if (len == 0 || len >= LINE_LEN)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (!isxdigit((unsigned char)tmp[0]))
		return false;
	start = strtoul(tmp, &e, 16);
	if (*e != '-' || !isxdigit((unsigned char)e[1]))
		return false;
	p = e + 1;
	end = strtoul(p, &e, 16);
	if (*e != ' ')
		return false;
	p = e + 1;
	if (strlen(p) < 5 ||
	    (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's') ||
	    p[4] != ' ')
		return false;
	memcpy(v->perms, p, 4);
	v->perms[4] = '\0';
	memcpy(v->text, tmp, len + 1);
	v->start = start;
	v->end = end;
	return true;
}

static bool entry_is(const struct vline *v, unsigned long start, unsigned long end,
		     const char *prot)
{
	return v->start == start && v->end == end &&
	       !strncmp(v->perms, prot, 3) && v->perms[3] == 'p';
}

/* ---- reading pages ---------------------------------------------------- */

/* Read one page.  Returns 1 on success, 0 at end of file, -1 on error. */
static int read_page(int fd, struct page *pg, char *why, size_t whysz)
{
	ssize_t n;

	do
		n = read(fd, pg->buf, PG);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		fmt(why, whysz, "read: %s", strerror(errno));
		return -1;
	}
	if (n == 0) {
		fmt(why, whysz, "unexpected end of file");
		return 0;
	}
	pg->len = n;
	pg->buf[n] = '\0';
	if (pg->buf[n - 1] != '\n') {
		fmt(why, whysz, "a %zd-byte read does not end in a newline", n);
		return -1;
	}
	if (memchr(pg->buf, '\0', n)) {
		fmt(why, whysz, "a %zd-byte read holds a NUL byte", n);
		return -1;
	}
	return 1;
}

/* Last entry of a page: the last line for maps, the last header line for
 * smaps. */
static bool last_entry(const struct page *pg, enum which_file f, struct vline *v)
{
	const char *end = pg->buf + pg->len - 1;	/* the final newline */

	for (;;) {
		const char *start = end;

		while (start > pg->buf && start[-1] != '\n')
			start--;
		if (parse_entry(start, end - start, v))
			return true;
		if (f == FILE_MAPS || start == pg->buf)
			return false;
		end = start - 1;
	}
}

/* First entry of a page: the first line for maps, the first header line for
 * smaps. */
static bool first_entry(const struct page *pg, enum which_file f, struct vline *v)
{
	const char *start = pg->buf, *limit = pg->buf + pg->len;

	while (start < limit) {
		const char *end = memchr(start, '\n', limit - start);

		if (!end)
			return false;
		if (parse_entry(start, end - start, v))
			return true;
		if (f == FILE_MAPS)
			return false;
		start = end + 1;
	}
	return false;
}

/* lseek to 0, skip c->skip pages, read two pages, pick the boundary entries. */
static bool read_boundary(struct ctx *c, struct vline *last, struct vline *first)
{
	if (lseek(c->mfd, 0, SEEK_SET) != 0) {
		fmt(c->why, sizeof(c->why), "lseek: %s", strerror(errno));
		return false;
	}
	for (int i = 0; i < c->skip; i++)
		if (read_page(c->mfd, &c->p1, c->why, sizeof(c->why)) <= 0)
			return false;
	if (read_page(c->mfd, &c->p1, c->why, sizeof(c->why)) <= 0 ||
	    read_page(c->mfd, &c->p2, c->why, sizeof(c->why)) <= 0)
		return false;
	if (!last_entry(&c->p1, c->t->file, last)) {
		fmt(c->why, sizeof(c->why), "page %d does not end with a VMA line",
			 c->skip + 1);
		return false;
	}
	if (!first_entry(&c->p2, c->t->file, first)) {
		fmt(c->why, sizeof(c->why), "page %d does not start with a VMA line",
			 c->skip + 2);
		return false;
	}
	return true;
}

/* Print the last 3 entries of page 1 and the first 3 of page 2, prefixed
 * for TAP.  For smaps only header lines are shown. */
static void print_boundaries(struct ctx *c, const char *title)
{
	const char *ends[4096 / 8];
	const char *p;
	int n = 0, from;
	struct vline v;

	printf("# %s: %s\n", c->t->name, title);
	for (p = c->p1.buf; *p; ) {
		const char *nl = strchr(p, '\n');

		if (!nl)
			break;
		if (parse_entry(p, nl - p, &v) || c->t->file == FILE_MAPS)
			ends[n++] = p;
		p = nl + 1;
	}
	from = n > 3 ? n - 3 : 0;
	for (int i = from; i < n; i++)
		printf("#   %.*s\n", (int)(strchr(ends[i], '\n') - ends[i]), ends[i]);
	printf("#   ------------------ page boundary ------------------\n");
	n = 0;
	for (p = c->p2.buf; *p && n < 3; ) {
		const char *nl = strchr(p, '\n');

		if (!nl)
			break;
		if (parse_entry(p, nl - p, &v) || c->t->file == FILE_MAPS) {
			printf("#   %.*s\n", (int)(nl - p), p);
			n++;
		}
		p = nl + 1;
	}
	fflush(stdout);
}

/* ---- the simulated process's player (forked child) --------------------- */

static void __attribute__((noreturn, format(printf, 2, 3)))
child_fail(struct shared *sh, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vsnprintf(sh->err, sizeof(sh->err), format, ap);
	va_end(ap);
	st_set(sh, S_FAILED);
	_exit(1);
}

/* Wait for the parent to reach a state; false if asked to stop. */
static bool child_wait(struct shared *sh, int want)
{
	unsigned int spins = 0;

	while (st_get(sh) != want) {
		if (stop_requested(sh))
			return false;
		backoff(&spins);
	}
	return true;
}

/*
 * The helper's commands whose result lines it has not read yet.  Each
 * modify and each restore is still its own write(2), so each is committed
 * when its write returns and a reader can run between any two of them; only
 * reading the results back is put off, to every RESULT_BATCH commands,
 * which saves the daemon a read request per command.  A command that fails
 * fails its write at once, so errors are not put off.
 */
#define RESULT_BATCH	32
#define SHOWN_LEN	128

struct backlog {
	int fd;
	int n;				/* result lines pending */
	unsigned long expect[RESULT_BATCH + 2];	/* address each must give */
	char shown[RESULT_BATCH + 2][SHOWN_LEN];	/* its command, for messages */
};

/* Read every pending result line and check it against its command. */
static void child_settle(struct shared *sh, struct backlog *bl)
{
	char res[RESULT_BATCH * LINE_LEN], *line = res;
	int got = ctl_collect(bl->fd, bl->n, res, sizeof(res));
	unsigned long val;

	if (got < bl->n)
		child_fail(sh, "'%s': expected %d result line(s), got %d",
			   bl->shown[bl->n - 1], bl->n, got);
	for (int i = 0; i < bl->n; i++) {
		char *nl = strchr(line, '\n');

		*nl = '\0';
		if (!parse_ulong(line, &val))
			child_fail(sh, "'%s' returned '%s', not a number", bl->shown[i], line);
		if (bl->expect[i] != ULONG_MAX && val != bl->expect[i])
			child_fail(sh, "'%s' returned 0x%lx, expected 0x%lx",
				   bl->shown[i], val, bl->expect[i]);
		line = nl + 1;
	}
	bl->n = 0;
}

/* Write one change (its "\n"-terminated lines, the address each must
 * return) in one write(2); check the backlog once it is full. */
static void child_send(struct shared *sh, struct backlog *bl, const char *cmds,
		       const unsigned long *expect)
{
	int lines = count_lines(cmds), werr = ctl_write(bl->fd, cmds);
	const char *p = cmds;

	if (werr) {
		char res[RESULT_BATCH * LINE_LEN], shown[512], pending[512];

		/* The error line comes after the results still pending. */
		ctl_collect(bl->fd, -1, res, sizeof(res));
		flatten(cmds, shown, sizeof(shown));
		flatten(res, pending, sizeof(pending));
		child_fail(sh, "'%s' failed: %s%s%s", shown, strerror(werr),
			   *pending ? "; ctl says: " : "", pending);
	}
	for (int i = 0; i < lines; i++) {
		const char *nl = strchr(p, '\n');

		bl->expect[bl->n] = expect[i];
		fmt(bl->shown[bl->n], SHOWN_LEN, "%.*s", (int)(nl - p), p);
		bl->n++;
		p = nl + 1;
	}
	if (bl->n >= RESULT_BATCH)
		child_settle(sh, bl);
}

static unsigned long child_mmap(struct shared *sh, int fd, unsigned long len, const char *prot)
{
	char cmd[128], out[LINE_LEN], err[MSG_LEN];
	unsigned long addr;

	fmt(cmd, sizeof(cmd), "mmap 0 0x%lx %s private,anonymous\n", len, prot);
	if (ctl_run(fd, cmd, out, sizeof(out), err, sizeof(err)) < 0)
		child_fail(sh, "%s", err);
	if (!parse_ulong(out, &addr) || addr == 0 || addr % PG)
		child_fail(sh, "'mmap 0 0x%lx %s private,anonymous' returned '%s'",
			   len, prot, out);
	return addr;
}

static void child_modify(struct shared *sh, struct backlog *bl)
{
	unsigned long a = sh->target, expect[1] = { a };
	char cmd[256];

	switch (sh->pattern) {
	case PAT_SPLIT:
		fmt(cmd, sizeof(cmd), "mmap 0x%lx 0x%lx --- private,anonymous,fixed\n",
			 a, PG);
		break;
	case PAT_RESIZE:
		fmt(cmd, sizeof(cmd), "mremap 0x%lx 0x%lx 0x%lx\n", a, 3 * PG, PG);
		break;
	case PAT_REMAP:
		fmt(cmd, sizeof(cmd), "mremap 0x%lx 0x%lx 0x%lx maymove,fixed 0x%lx\n",
			 sh->slot, PG, PG, a + PG);
		expect[0] = a + PG;
		break;
	}
	child_send(sh, bl, cmd, expect);
}

static void child_restore(struct shared *sh, struct backlog *bl)
{
	unsigned long a = sh->target, expect[2] = { a, ULONG_MAX };
	char cmd[256];

	switch (sh->pattern) {
	case PAT_SPLIT:
		fmt(cmd, sizeof(cmd), "mmap 0x%lx 0x%lx %s private,anonymous,fixed\n",
			 a, PG, sh->prot);
		break;
	case PAT_RESIZE:
		fmt(cmd, sizeof(cmd), "mremap 0x%lx 0x%lx 0x%lx\n", a, PG, 3 * PG);
		break;
	case PAT_REMAP:
		/* Put the target's middle page back, then recreate the patch
		 * page in its slot for the next round. */
		fmt(cmd, sizeof(cmd),
			 "mmap 0x%lx 0x%lx %s private,anonymous,fixed\n"
			 "mmap 0x%lx 0x%lx --- private,anonymous,fixed\n",
			 a + PG, PG, sh->prot, sh->slot, PG);
		expect[0] = a + PG;
		expect[1] = sh->slot;
		break;
	}
	child_send(sh, bl, cmd, expect);
}

static void __attribute__((noreturn))
child_main(struct shared *sh, const char *mnt, long simpid, pid_t parent)
{
	char path[PATH_MAX];
	struct backlog bl = { .n = 0 };
	int fd;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	/* Never outlive the parent; re-check in case it died before prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		child_fail(sh, "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
	if (getppid() != parent)
		_exit(1);

	fmt(path, sizeof(path), "%s/%ld/ctl", mnt, simpid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		child_fail(sh, "open %s: %s", path, strerror(errno));

	sh->slot = child_mmap(sh, fd, PG, "---");
	for (int i = 0; i < NR_VMAS; i++)
		sh->vma[i] = child_mmap(sh, fd, 3 * PG, (i % 2) ? "r--" : "rw-");
	bl.fd = fd;
	st_set(sh, S_CHILD_READY);

	if (!child_wait(sh, S_PARENT_READY))
		_exit(0);
	st_set(sh, S_SETUP_READY);

	if (!child_wait(sh, S_DO_MODIFY))
		_exit(0);
	child_modify(sh, &bl);
	child_settle(sh, &bl);
	st_set(sh, S_MODIFIED);

	if (!child_wait(sh, S_DO_RESTORE))
		_exit(0);
	child_restore(sh, &bl);
	child_settle(sh, &bl);
	st_set(sh, S_RESTORED);

	if (!child_wait(sh, S_RUN))
		_exit(0);
	while (!stop_requested(sh)) {
		child_modify(sh, &bl);
		child_restore(sh, &bl);
		__atomic_add_fetch(&sh->cycles, 1, __ATOMIC_RELAXED);
	}
	_exit(0);
}

/* ---- parent side ------------------------------------------------------- */

static volatile sig_atomic_t g_child;
static volatile sig_atomic_t g_simpid;
static char g_rootctl[PATH_MAX];

/* On SIGINT/SIGTERM/SIGHUP: kill the helper and the simulated process. */
static void on_fatal_signal(int sig)
{
	int saved = errno;

	if (g_child > 0) {
		kill(g_child, SIGKILL);
		waitpid(g_child, NULL, 0);
	}
	if (g_simpid > 0) {
		char cmd[32], digits[16];
		int n = 0, len = 0;
		long v = g_simpid;
		int fd;

		while (v > 0 && n < (int)sizeof(digits)) {
			digits[n++] = '0' + v % 10;
			v /= 10;
		}
		memcpy(cmd, "kill ", 5);
		len = 5;
		while (n > 0)
			cmd[len++] = digits[--n];
		cmd[len++] = '\n';
		fd = open(g_rootctl, O_RDWR);
		if (fd >= 0) {
			if (write(fd, cmd, len) < 0) {
				/* nothing more can be done here */
			}
			close(fd);
		}
	}
	errno = saved;
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run one command on MNT/ctl. */
static bool root_cmd(const char *cmd, char *out, size_t outsz, char *why, size_t whysz)
{
	char err[MSG_LEN];
	int fd = open(g_rootctl, O_RDWR | O_CLOEXEC);
	int r;

	if (fd < 0) {
		fmt(why, whysz, "open %s: %s", g_rootctl, strerror(errno));
		return false;
	}
	r = ctl_run(fd, cmd, out, outsz, err, sizeof(err));
	close(fd);
	if (r < 0) {
		fmt(why, whysz, "%s: %s", g_rootctl, err);
		return false;
	}
	return true;
}

static bool child_alive(struct ctx *c)
{
	int status;
	pid_t r;

	if (c->child <= 0)
		return false;
	r = waitpid(c->child, &status, WNOHANG);
	if (r == 0)
		return true;
	c->child = -1;
	g_child = 0;
	if (st_get(c->sh) == S_FAILED)
		fmt(c->why, sizeof(c->why), "helper: %s", c->sh->err);
	else if (r > 0 && WIFSIGNALED(status))
		fmt(c->why, sizeof(c->why), "helper died with signal %d",
			 WTERMSIG(status));
	else if (r > 0)
		fmt(c->why, sizeof(c->why), "helper exited early with status %d",
			 WEXITSTATUS(status));
	else
		fmt(c->why, sizeof(c->why), "waitpid: %s", strerror(errno));
	return false;
}

static bool parent_wait(struct ctx *c, int want)
{
	double deadline = now_sec() + CHILD_TIMEOUT;
	unsigned int spins = 0;

	for (;;) {
		int st = st_get(c->sh);

		if (st == want)
			return true;
		if (st == S_FAILED) {
			fmt(c->why, sizeof(c->why), "helper: %s", c->sh->err);
			return false;
		}
		if (!child_alive(c))
			return false;
		if (now_sec() > deadline) {
			fmt(c->why, sizeof(c->why),
				 "timed out waiting for the helper (state %d, want %d)", st, want);
			return false;
		}
		backoff(&spins);
	}
}

/* The mappings must be adjacent and descending below the slot page. */
static bool check_layout(struct ctx *c)
{
	struct shared *sh = c->sh;

	if (sh->vma[0] + 3 * PG != sh->slot) {
		fmt(c->why, sizeof(c->why),
			 "placement is not top-down and adjacent: slot page at 0x%lx, first mapping at 0x%lx",
			 sh->slot, sh->vma[0]);
		return false;
	}
	for (int i = 1; i < NR_VMAS; i++) {
		if (sh->vma[i] + 3 * PG != sh->vma[i - 1]) {
			fmt(c->why, sizeof(c->why),
				 "placement is not top-down and adjacent: mapping %d at 0x%lx, mapping %d at 0x%lx",
				 i - 1, sh->vma[i - 1], i, sh->vma[i]);
			return false;
		}
	}
	return true;
}

static int vma_index(struct shared *sh, unsigned long start)
{
	for (int i = 0; i < NR_VMAS; i++)
		if (sh->vma[i] == start)
			return i;
	return -1;
}

/* Find a page boundary with a test mapping on each side (target below,
 * its upper neighbour above), starting at the page holding the lowest one. */
static bool locate_boundary(struct ctx *c)
{
	unsigned long lowest = c->sh->vma[NR_VMAS - 1];
	int page = -1, first_page;
	struct vline v;

	if (lseek(c->mfd, 0, SEEK_SET) != 0) {
		fmt(c->why, sizeof(c->why), "lseek: %s", strerror(errno));
		return false;
	}
	for (int k = 0; page < 0; k++) {
		const char *p;

		if (read_page(c->mfd, &c->p1, c->why, sizeof(c->why)) <= 0) {
			char sub[MSG_LEN];

			fmt(sub, sizeof(sub), "%s", c->why);
			fmt(c->why, sizeof(c->why),
				 "the lowest test mapping 0x%lx-0x%lx was not found (%s)",
				 lowest, lowest + 3 * PG, sub);
			return false;
		}
		for (p = c->p1.buf; *p; ) {
			const char *nl = strchr(p, '\n');

			if (!nl)
				break;
			if (parse_entry(p, nl - p, &v) && v.start == lowest &&
			    v.end == lowest + 3 * PG) {
				page = k;
				break;
			}
			p = nl + 1;
		}
	}

	first_page = page;
	for (c->skip = first_page; c->skip < first_page + 64; c->skip++) {
		struct vline last, first;
		int i;

		if (!read_boundary(c, &last, &first)) {
			char sub[MSG_LEN];

			fmt(sub, sizeof(sub), "%s", c->why);
			fmt(c->why, sizeof(c->why),
				 "no page boundary between two test mappings (%s)", sub);
			return false;
		}
		i = vma_index(c->sh, last.start);
		if (i >= 1 && last.end == last.start + 3 * PG &&
		    first.start == c->sh->vma[i - 1] && first.end == first.start + 3 * PG) {
			c->sh->target = last.start;
			memcpy(c->sh->prot, last.perms, 3);
			c->sh->prot[3] = '\0';
			return true;
		}
	}
	fmt(c->why, sizeof(c->why), "no page boundary between two test mappings");
	return false;
}

struct pattern_lines {
	struct vline orig_last, orig_first;
	struct vline mod_last, mod_first;
	struct vline rest_last, rest_first;
};

static bool expect_entry(struct ctx *c, const char *what, const struct vline *v,
			 unsigned long start, unsigned long end, const char *prot)
{
	if (entry_is(v, start, end, prot))
		return true;
	fmt(c->why, sizeof(c->why), "%s: expected %lx-%lx %sp, got '%s'",
		 what, start, end, prot, v->text);
	return false;
}

/* Modify once and restore once with the reader idle, and record what the
 * boundary looks like in each state. */
static bool capture_pattern(struct ctx *c, struct pattern_lines *pl)
{
	unsigned long a = c->sh->target;
	const char *t = c->sh->prot;

	if (!parent_wait(c, S_SETUP_READY))
		return false;
	if (!read_boundary(c, &pl->orig_last, &pl->orig_first))
		return false;
	if (c->verbose)
		print_boundaries(c, "before modification");

	st_set(c->sh, S_DO_MODIFY);
	if (!parent_wait(c, S_MODIFIED))
		return false;
	if (!read_boundary(c, &pl->mod_last, &pl->mod_first))
		return false;
	if (c->verbose)
		print_boundaries(c, "after modification");

	st_set(c->sh, S_DO_RESTORE);
	if (!parent_wait(c, S_RESTORED))
		return false;
	if (!read_boundary(c, &pl->rest_last, &pl->rest_first))
		return false;
	if (c->verbose)
		print_boundaries(c, "after restore");

	if (strcmp(pl->rest_last.text, pl->orig_last.text) ||
	    strcmp(pl->rest_first.text, pl->orig_first.text)) {
		fmt(c->why, sizeof(c->why),
			 "restore did not bring back the original boundary: '%s' / '%s' became '%s' / '%s'",
			 pl->orig_last.text, pl->orig_first.text,
			 pl->rest_last.text, pl->rest_first.text);
		return false;
	}

	switch (c->t->pat) {
	case PAT_SPLIT:
		return expect_entry(c, "split: last line of page 1", &pl->mod_last,
				    a, a + PG, "---") &&
		       expect_entry(c, "split: first line of page 2", &pl->mod_first,
				    a + PG, a + 3 * PG, t);
	case PAT_RESIZE:
		if (strcmp(pl->mod_first.text, pl->orig_first.text)) {
			fmt(c->why, sizeof(c->why),
				 "shrink: first line of page 2 changed from '%s' to '%s'",
				 pl->orig_first.text, pl->mod_first.text);
			return false;
		}
		return expect_entry(c, "shrink: last line of page 1", &pl->mod_last,
				    a, a + PG, t);
	case PAT_REMAP:
		return expect_entry(c, "remap: last line of page 1", &pl->mod_last,
				    a, a + PG, t) &&
		       expect_entry(c, "remap: first line of page 2", &pl->mod_first,
				    a + PG, a + 2 * PG, "---");
	}
	return false;
}

enum seen { SEEN_RESTORED, SEEN_MODIFIED, SEEN_MOD_THEN_RESTORED, NR_SEEN };

/*
 * Check one boundary read against the captured pattern.  Accepted
 * (L = last entry of page 1, F = first entry of page 2):
 *   L == modified last  and F == modified first   (read after the change)
 *   L == modified last  and F == restored last    (restored between pages:
 *                                                  the VMA is shown twice)
 *   L == restored last  and F == restored first   (read before the change)
 * For split and remap both lines must change together.
 */
static bool check_boundary(struct ctx *c, const struct pattern_lines *pl,
			   const struct vline *L, const struct vline *F, enum seen *seen)
{
	bool last_changed, first_changed;

	if (!strcmp(L->text, pl->mod_last.text)) {
		if (!strcmp(F->text, pl->mod_first.text)) {
			*seen = SEEN_MODIFIED;
		} else if (!strcmp(F->text, pl->rest_last.text)) {
			*seen = SEEN_MOD_THEN_RESTORED;
		} else {
			fmt(c->why, sizeof(c->why),
				 "page 1 ends with the modified '%s' but page 2 starts with '%s', "
				 "expected '%s' or '%s' (a false gap)",
				 L->text, F->text, pl->mod_first.text, pl->rest_last.text);
			return false;
		}
	} else if (!strcmp(L->text, pl->rest_last.text)) {
		if (strcmp(F->text, pl->rest_first.text)) {
			fmt(c->why, sizeof(c->why),
				 "page 1 ends with the restored '%s' but page 2 starts with '%s', expected '%s'",
				 L->text, F->text, pl->rest_first.text);
			return false;
		}
		*seen = SEEN_RESTORED;
	} else {
		fmt(c->why, sizeof(c->why),
			 "page 1 ends with '%s', neither the modified '%s' nor the restored '%s'",
			 L->text, pl->mod_last.text, pl->rest_last.text);
		return false;
	}

	if (c->t->pat != PAT_RESIZE) {
		last_changed = strcmp(L->text, pl->orig_last.text) != 0;
		first_changed = strcmp(F->text, pl->orig_first.text) != 0;
		if (last_changed != first_changed) {
			fmt(c->why, sizeof(c->why),
				 "boundary lines did not change together: '%s' / '%s'",
				 L->text, F->text);
			return false;
		}
	}
	return true;
}

/* PROCMAP_QUERY equivalent: the VMA at the changing address must be in its
 * modified or restored form. */
static bool check_query(struct ctx *c, char *why, size_t whysz)
{
	unsigned long a = c->sh->target;
	unsigned long qa = c->t->pat == PAT_RESIZE ? a : a + PG;
	const char *t = c->sh->prot;
	char cmd[64], out[LINE_LEN], err[MSG_LEN];
	struct vline q;
	bool ok = false;

	fmt(cmd, sizeof(cmd), "query 0x%lx\n", qa);
	if (ctl_run(c->qfd, cmd, out, sizeof(out), err, sizeof(err)) < 0) {
		fmt(why, whysz, "query: %s", err);
		return false;
	}
	if (!parse_entry(out, strlen(out), &q)) {
		fmt(why, whysz, "query 0x%lx returned '%s', not a maps line",
			 qa, out);
		return false;
	}
	switch (c->t->pat) {
	case PAT_SPLIT:
		ok = entry_is(&q, a, a + 3 * PG, t) || entry_is(&q, a + PG, a + 3 * PG, t);
		break;
	case PAT_RESIZE:
		ok = entry_is(&q, a, a + 3 * PG, t) || entry_is(&q, a, a + PG, t);
		break;
	case PAT_REMAP:
		ok = entry_is(&q, a, a + 3 * PG, t) ||
		     entry_is(&q, a + PG, a + 2 * PG, "---");
		break;
	}
	if (!ok)
		fmt(why, whysz,
			 "query 0x%lx returned '%s', neither the modified nor the restored VMA",
			 qa, out);
	return ok;
}

static void futex_wake(int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Wait until *word is no longer old; returns its new value. */
static int futex_await_change(int *word, int old)
{
	const struct timespec nap = { 0, 10 * 1000 * 1000 };
	int now;

	while ((now = __atomic_load_n(word, __ATOMIC_ACQUIRE)) == old)
		syscall(SYS_futex, word, FUTEX_WAIT, old, &nap, NULL, 0);
	return now;
}

/*
 * The query of each iteration runs on a thread of its own: the parent asks
 * for it as a boundary read begins and takes its verdict once the read is
 * checked, so the query's two round trips (write, read) overlap the read's
 * two pages instead of following them.  Each iteration still runs exactly
 * one query, at the changing address, while the helper changes it.
 */
struct querier {
	struct ctx *c;
	pthread_t thread;
	bool started;
	int asked;		/* futex word: queries asked for */
	int answered;		/* futex word: queries answered (never more than asked) */
	int quit;
	bool ok;		/* the verdict of the last query answered */
	char why[MSG_LEN];
};

static void *querier_main(void *arg)
{
	struct querier *q = arg;
	int answered = 0;

	for (;;) {
		int asked = futex_await_change(&q->asked, answered);

		if (__atomic_load_n(&q->quit, __ATOMIC_ACQUIRE))
			return NULL;
		q->ok = check_query(q->c, q->why, sizeof(q->why));
		answered = asked;
		__atomic_store_n(&q->answered, answered, __ATOMIC_RELEASE);
		futex_wake(&q->answered);
	}
}

static void querier_ask(struct querier *q)
{
	__atomic_add_fetch(&q->asked, 1, __ATOMIC_RELEASE);
	futex_wake(&q->asked);
}

/* The verdict of the query asked last; its reason in why when it failed. */
static bool querier_verdict(struct querier *q, char *why, size_t whysz)
{
	int asked = __atomic_load_n(&q->asked, __ATOMIC_RELAXED);
	int answered;

	while ((answered = __atomic_load_n(&q->answered, __ATOMIC_ACQUIRE)) != asked)
		futex_await_change(&q->answered, answered);
	if (!q->ok)
		fmt(why, whysz, "%s", q->why);
	return q->ok;
}

static void querier_stop(struct querier *q)
{
	if (!q->started)
		return;
	__atomic_store_n(&q->quit, 1, __ATOMIC_RELEASE);
	/* Changing asked is what wakes it; quit makes it leave. */
	__atomic_add_fetch(&q->asked, 1, __ATOMIC_RELEASE);
	futex_wake(&q->asked);
	pthread_join(q->thread, NULL);
	q->started = false;
}

static void stop_child(struct ctx *c)
{
	double deadline;
	int status;

	if (c->sh)
		__atomic_store_n(&c->sh->stop, 1, __ATOMIC_RELEASE);
	if (c->child <= 0)
		return;
	deadline = now_sec() + 10.0;
	for (;;) {
		pid_t r = waitpid(c->child, &status, WNOHANG);
		struct timespec ts = { 0, 1000 * 1000 };

		if (r != 0)
			break;
		if (now_sec() > deadline) {
			kill(c->child, SIGKILL);
			waitpid(c->child, &status, 0);
			break;
		}
		nanosleep(&ts, NULL);
	}
	c->child = -1;
	g_child = 0;
}

/* Returns true when the test passed; prints its diagnostics. */
static bool run_test(const struct test_desc *t, const char *mnt, bool verbose,
		     double duration, const char *lock_mode, char *reason, size_t reasonsz)
{
	struct ctx *c;
	struct pattern_lines pl;
	struct querier qr = { .started = false };
	char path[PATH_MAX], cmd[128], out[LINE_LEN];
	unsigned long seen[NR_SEEN] = { 0 }, reads = 0, queries = 0, cycles;
	double t0, t1 = 0;
	bool ok = false, looped = false;
	pid_t parent = getpid();

	c = calloc(1, sizeof(*c));
	if (!c) {
		fmt(reason, reasonsz, "out of memory");
		return false;
	}
	c->t = t;
	c->mnt = mnt;
	c->mfd = c->qfd = -1;
	c->child = -1;
	c->verbose = verbose;
	c->duration = duration;

	c->sh = mmap(NULL, sizeof(*c->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->sh == MAP_FAILED) {
		c->sh = NULL;
		fmt(c->why, sizeof(c->why), "mmap shared memory: %s", strerror(errno));
		goto out;
	}
	c->sh->pattern = t->pat;

	if (lock_mode && *lock_mode)
		fmt(cmd, sizeof(cmd), "spawn race layout=empty lock=%s\n", lock_mode);
	else
		fmt(cmd, sizeof(cmd), "spawn race layout=empty\n");
	if (!root_cmd(cmd, out, sizeof(out), c->why, sizeof(c->why)))
		goto out;
	{
		unsigned long pid;

		if (!parse_ulong(out, &pid) || pid == 0 || pid > INT_MAX) {
			fmt(c->why, sizeof(c->why), "spawn returned '%s', not a pid", out);
			goto out;
		}
		c->simpid = (long)pid;
		g_simpid = (sig_atomic_t)pid;
	}

	fflush(stdout);
	fflush(stderr);
	c->child = fork();
	if (c->child < 0) {
		fmt(c->why, sizeof(c->why), "fork: %s", strerror(errno));
		goto out;
	}
	if (c->child == 0)
		child_main(c->sh, mnt, c->simpid, parent);
	g_child = c->child;

	fmt(path, sizeof(path), "%s/%ld/%s", mnt, c->simpid,
		 t->file == FILE_MAPS ? "maps" : "smaps");
	c->mfd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->mfd < 0) {
		fmt(c->why, sizeof(c->why), "open %s: %s", path, strerror(errno));
		goto out;
	}
	fmt(path, sizeof(path), "%s/%ld/ctl", mnt, c->simpid);
	c->qfd = open(path, O_RDWR | O_CLOEXEC);
	if (c->qfd < 0) {
		fmt(c->why, sizeof(c->why), "open %s: %s", path, strerror(errno));
		goto out;
	}

	if (!parent_wait(c, S_CHILD_READY) || !check_layout(c) || !locate_boundary(c))
		goto out;
	if (verbose)
		printf("# %s: pid %ld, target %lx-%lx %s, boundary after page %d\n",
		       t->name, c->simpid, c->sh->target, c->sh->target + 3 * PG,
		       c->sh->prot, c->skip + 1);
	st_set(c->sh, S_PARENT_READY);

	if (!capture_pattern(c, &pl))
		goto out;

	qr.c = c;
	errno = pthread_create(&qr.thread, NULL, querier_main, &qr);
	if (errno) {
		fmt(c->why, sizeof(c->why), "pthread_create: %s", strerror(errno));
		goto out;
	}
	qr.started = true;

	st_set(c->sh, S_RUN);
	looped = true;
	t0 = now_sec();
	do {
		struct vline L, F;
		enum seen s;

		querier_ask(&qr);
		if (!read_boundary(c, &L, &F))
			goto out;
		reads++;
		if (!check_boundary(c, &pl, &L, &F, &s)) {
			print_boundaries(c, "inconsistent boundary");
			goto out;
		}
		seen[s]++;
		if (!querier_verdict(&qr, c->why, sizeof(c->why)))
			goto out;
		queries++;
		if (st_get(c->sh) == S_FAILED) {
			fmt(c->why, sizeof(c->why), "helper: %s", c->sh->err);
			goto out;
		}
		if (!child_alive(c))
			goto out;
		t1 = now_sec();
	} while (t1 - t0 < duration);

	if (__atomic_load_n(&c->sh->cycles, __ATOMIC_RELAXED) == 0) {
		fmt(c->why, sizeof(c->why),
			 "the helper finished no modify/restore cycle; the race was not exercised");
		goto out;
	}
	ok = true;

out:
	if (looped) {
		double el = (t1 > t0 ? t1 : now_sec()) - t0;

		printf("# %s: %lu boundary reads, %.1f/s\n", t->name, reads,
		       el > 0 ? reads / el : 0.0);
		/* The loop ends at the first failure: this is how long it took
		 * to catch, counted from the start of the race. */
		if (!ok)
			printf("# %s: first failure after %.3f s\n", t->name, now_sec() - t0);
	}
	querier_stop(&qr);
	stop_child(c);
	if (c->sh)
		cycles = __atomic_load_n(&c->sh->cycles, __ATOMIC_RELAXED);
	else
		cycles = 0;
	if (looped) {
		/* The helper cycles from the start of the race until it is stopped. */
		double el = now_sec() - t0;

		printf("# %s: %lu modify/restore cycles (%.1f/s), %lu queries; boundary seen restored %lu, "
		       "modified %lu, modified-then-restored %lu\n",
		       t->name, cycles, el > 0 ? cycles / el : 0.0, queries, seen[SEEN_RESTORED],
		       seen[SEEN_MODIFIED], seen[SEEN_MOD_THEN_RESTORED]);
	}
	if (c->mfd >= 0)
		close(c->mfd);
	if (c->qfd >= 0)
		close(c->qfd);
	if (c->simpid > 0) {
		char kwhy[MSG_LEN];

		fmt(cmd, sizeof(cmd), "kill %ld\n", c->simpid);
		if (root_cmd(cmd, out, sizeof(out), kwhy, sizeof(kwhy))) {
			g_simpid = 0;
		} else {
			printf("# %s: could not kill simulated process %ld: %s\n",
			       t->name, c->simpid, kwhy);
			if (ok) {
				fmt(c->why, sizeof(c->why),
					 "could not kill simulated process %ld", c->simpid);
				ok = false;
			}
		}
	}
	if (!ok) {
		/* No '#' in a TAP description: it would start a directive. */
		for (char *p = c->why; *p; p++)
			if (*p == '#' || *p == '\n')
				*p = ' ';
		fmt(reason, reasonsz, "%s", c->why);
	}
	if (c->sh)
		munmap(c->sh, sizeof(*c->sh));
	free(c);
	return ok;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s MOUNTPOINT [TEST...]\ntests:", prog);
	for (int i = 0; i < NR_TESTS; i++)
		fprintf(stderr, " %s", all_tests[i].name);
	fprintf(stderr, "\nenvironment: DURATION=seconds (default 5), VERBOSE=1, LOCK_MODE=mode\n");
}

int main(int argc, char **argv)
{
	const struct test_desc *sel[64];
	const char *env, *mnt;
	int nsel = 0, passed = 0, failed = 0;
	double duration = 5.0;
	bool verbose;
	struct sigaction sa;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argv[0]);
		return 2;
	}
	mnt = argv[1];
	for (int i = 2; i < argc; i++) {
		int j;

		for (j = 0; j < NR_TESTS; j++)
			if (!strcmp(argv[i], all_tests[j].name))
				break;
		if (j == NR_TESTS || nsel == (int)(sizeof(sel) / sizeof(sel[0]))) {
			fprintf(stderr, "%s: unknown test '%s'\n", argv[0], argv[i]);
			usage(argv[0]);
			return 2;
		}
		sel[nsel++] = &all_tests[j];
	}
	if (nsel == 0)
		for (int j = 0; j < NR_TESTS; j++)
			sel[nsel++] = &all_tests[j];

	env = getenv("DURATION");
	if (env && *env) {
		char *end;
		double d = strtod(env, &end);

		if (*end == '\0' && d > 0)
			duration = d;
	}
	env = getenv("VERBOSE");
	verbose = env && env[0] == '1';
	fmt(g_rootctl, sizeof(g_rootctl), "%s/ctl", mnt);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%d\n", nsel);
	for (int i = 0; i < nsel; i++) {
		char reason[MSG_LEN] = "";

		if (run_test(sel[i], mnt, verbose, duration, getenv("LOCK_MODE"),
			     reason, sizeof(reason))) {
			printf("ok %d %s\n", i + 1, sel[i]->name);
			passed++;
		} else {
			printf("not ok %d %s - %s\n", i + 1, sel[i]->name, reason);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
