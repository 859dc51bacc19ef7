/*
 * arena.c - kernel-differential helper for fakeproc.
 *
 * Runs a list of address-space operations against the REAL kernel inside a
 * private "arena" of this process, and prints what the kernel returned and
 * what /proc/self/maps shows inside the arena.  The same list, replayed
 * through fakeproc's ctl executor, must give the same output.
 *
 * Build:  gcc -O2 -Wall -Werror -o arena arena.c
 * Usage:  arena [-v] [-s ARENA_SIZE] [-a ARENA_ADDR] [-m MARGIN] < ops
 *
 * Input: one operation per line, the ctl syntax of the contract, but every
 * address is an offset relative to the arena start.  Numbers are 0x-hex or
 * decimal.  Blank lines and lines starting with '#' are ignored (no output).
 *
 *   mmap OFF LEN PROT FLAGS [fd=N OFFSET | PATH OFFSET]
 *       Always MAP_FIXED at arena+OFF, or MAP_FIXED_NOREPLACE if FLAGS holds
 *       fixed_noreplace.  FLAGS: private,shared,anonymous,fixed,
 *       fixed_noreplace,populate,growsdown,noreserve.  Without the last two
 *       words fd is -1 and the offset 0.  Nothing else is added: without
 *       "anonymous" the kernel answers EBADF, with neither private nor
 *       shared EINVAL, with both it is MAP_SHARED_VALIDATE.
 *       fd=N maps descriptor N (see open) at file offset OFFSET.
 *       PATH is opened for this mmap only and closed right after it, so the
 *       mapping never merges with another mapping of the same file: opened
 *       O_RDWR if the mapping is shared (MAP_SHARED or SHARED_VALIDATE) and
 *       PROT has w, else O_RDONLY - what a program asking for that mapping
 *       would do; a failed open prints open's error.
 *   open PATH [r|w|rw]
 *       open(2) with O_RDONLY (the default), O_WRONLY or O_RDWR; prints the
 *       descriptor number.  The helper holds only 0-2, so the first open
 *       gets 3.
 *   close N
 *   munmap OFF LEN
 *   mprotect OFF LEN PROT
 *   mremap OFF OLDLEN NEWLEN [FLAGS [NEWOFF]]
 *       FLAGS: maymove,fixed,dontunmap, or "-" / "0" for none.
 *       new_address = arena+NEWOFF when NEWOFF is given, else 0.
 *   touch OFF LEN
 *       For every page that intersects [OFF, OFF+LEN): if the VMA holding
 *       it is writable, write one byte (a write fault: private anonymous
 *       memory gets a page and an anon_vma); else if it is readable, read
 *       one byte (for never-written private anonymous memory this maps the
 *       shared zero page and does NOT attach an anon_vma); else (PROT_NONE,
 *       --x, or a hole) the page is skipped.  The result is "0", or
 *       "error: EFAULT" when a page of a file mapping lies wholly past the
 *       file's end (the access raised SIGBUS); the touch stops there and the
 *       pages before it stay touched.  Holes are not errors: apart from
 *       SIGBUS the result is the helper's, not a kernel answer.
 *   vmflags OFF
 *       Prints the VmFlags of the VMA holding arena+OFF, as
 *       /proc/self/smaps shows them ("rd wr mr mw me ac"); "error: ENOENT"
 *       when no VMA holds it.
 *   rss OFF
 *       Prints the smaps Rss of the VMA holding arena+OFF, in kB, without
 *       the unit; "error: ENOENT" when no VMA holds it.
 *   mmapnohint LEN PROT FLAGS
 *       mmap with a NULL address (FLAGS without fixed or fixed_noreplace):
 *       the kernel places it, outside the arena.  Prints
 *       "aligned2m=0|1 first" for the first such mapping, then
 *       "aligned2m=0|1 gap=0x%lx", the distance from its end up to the start
 *       of the previous mmapnohint mapping, or "aligned2m=0|1 above" when it
 *       is not below that one.  aligned2m says whether the start is 2 MiB
 *       aligned.  The mappings stay; they are not arena lines.
 *   mmaplow ADDR LEN PROT FLAGS
 *       mmap at the ABSOLUTE address ADDR with FLAGS as given (nothing
 *       added), for the mmap_min_addr edge; [ADDR, ADDR+LEN) must lie in the
 *       first MiB, where nothing of the process is.  Prints the absolute
 *       address, or "outside 0x%lx" if the kernel put it elsewhere.
 *   count
 *       Prints the number of VMAs of the whole process (the kernel's
 *       map_count: the lines of /proc/self/maps without the gate VMA
 *       [vsyscall]).  For max_map_count experiments only.
 *
 * PROT is three characters "rwx" positional, '-' for absent ("rw-", "---").
 *
 * Output: one result line per operation:
 *   "0x%lx"          mmap/mremap: returned address relative to the arena
 *   "0"              munmap/mprotect/touch/close
 *   "%d"             open: the descriptor
 *   others           vmflags, rss, mmapnohint, mmaplow: as described above
 *   "error: ENAME"   the syscall failed; ENAME is the errno's symbolic name
 *   "outside 0x%lx"  mremap succeeded but the kernel put the mapping outside
 *                    the arena (MAYMOVE without FIXED); absolute address
 *   "refused: out-of-arena"  not executed: a range it could touch is not
 *                    inside [arena, arena+size) (page-rounded, see in_arena)
 *   "refused: syntax"        not executed: the line could not be parsed
 * After all operations (with -v: after every operation instead) it prints
 * "--" and then each /proc/self/maps line of a VMA inside the arena, its
 * start and end rewritten relative to the arena as %08lx-%08lx and the name
 * column re-padded the kernel's way (header padded to 72 chars, one space,
 * the name).  Everything else (perms, offset, dev, inode, name) is copied as
 * the kernel printed it.  A VMA that overlaps the arena or its margins but
 * is not inside the arena is printed as "! " + the raw kernel line; that
 * means the experiment is broken.
 *
 * Placement: the arena plus a margin on both sides is reserved once with
 * MAP_FIXED_NOREPLACE at a low address (default 0x100000000000, far below
 * the PIE image and mmap_base, so top-down placement never picks a hole of
 * the arena), then unmapped again.  Nothing of the process lies within
 * MARGIN of the arena.  The helper itself uses only static buffers and
 * raw read(2) for /proc/self/maps and /proc/self/smaps while running
 * operations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static unsigned long page_size;
static unsigned long arena;      /* absolute start */
static unsigned long arena_size; /* bytes */
static unsigned long margin;     /* bytes kept free on each side */

static char maps_buf[8 << 20];
static size_t maps_len;

/* ---------------------------------------------------------------- errno */

static const char *errno_name(int e)
{
	static char buf[32];

	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ETXTBSY: return "ETXTBSY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ERANGE: return "ERANGE";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOSYS: return "ENOSYS";
	case ELOOP: return "ELOOP";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default:
		snprintf(buf, sizeof(buf), "E%d", e);
		return buf;
	}
}

/* -------------------------------------------------------------- parsing */

/* 0x-hex or decimal, whole token, no sign; returns 0 on failure */
static int parse_num(const char *s, unsigned long *out)
{
	unsigned long v = 0;
	int base = 10, any = 0;

	if (!s)
		return 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return 0;
		if (v > (ULONG_MAX - d) / base)
			return 0;
		v = v * base + d;
		any = 1;
	}
	*out = v;
	return any;
}

static int parse_prot(const char *s, int *prot)
{
	if (!s || strlen(s) != 3)
		return 0;
	*prot = 0;
	if (s[0] == 'r')
		*prot |= PROT_READ;
	else if (s[0] != '-')
		return 0;
	if (s[1] == 'w')
		*prot |= PROT_WRITE;
	else if (s[1] != '-')
		return 0;
	if (s[2] == 'x')
		*prot |= PROT_EXEC;
	else if (s[2] != '-')
		return 0;
	return 1;
}

struct word { const char *name; int value; };

static const struct word mmap_words[] = {
	{ "private", MAP_PRIVATE },
	{ "shared", MAP_SHARED },
	{ "anonymous", MAP_ANONYMOUS },
	{ "fixed", MAP_FIXED },
	{ "fixed_noreplace", MAP_FIXED_NOREPLACE },
	{ "populate", MAP_POPULATE },
	{ "growsdown", MAP_GROWSDOWN },
	{ "noreserve", MAP_NORESERVE },
	{ NULL, 0 }
};

static const struct word mremap_words[] = {
	{ "maymove", MREMAP_MAYMOVE },
	{ "fixed", MREMAP_FIXED },
	{ "dontunmap", MREMAP_DONTUNMAP },
	{ NULL, 0 }
};

/* comma-separated words; "-" and "0" mean none */
static int parse_flags(const char *s, const struct word *words, int *out)
{
	char tmp[256], *save = NULL, *w;

	*out = 0;
	if (!s)
		return 0;
	if (!strcmp(s, "-") || !strcmp(s, "0"))
		return 1;
	if (strlen(s) >= sizeof(tmp))
		return 0;
	strcpy(tmp, s);
	for (w = strtok_r(tmp, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		const struct word *p;

		for (p = words; p->name; p++)
			if (!strcmp(p->name, w))
				break;
		if (!p->name)
			return 0;
		*out |= p->value;
	}
	return 1;
}

/* ------------------------------------------------------------ the arena */

/*
 * Is the page-rounded range [off, off + PAGE_ALIGN(len)) inside the arena?
 * off == arena_size with len == 0 counts as inside (the kernel rejects it
 * without touching anything).
 */
static int in_arena(unsigned long off, unsigned long len)
{
	unsigned long alen;

	if (off > arena_size)
		return 0;
	if (len > arena_size)
		return 0;
	alen = (len + page_size - 1) & ~(page_size - 1);
	return alen <= arena_size - off;
}

/* Reads a whole /proc file of this process into maps_buf. */
static int read_proc(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	maps_len = 0;
	if (fd < 0)
		return 0;
	for (;;) {
		if (maps_len >= sizeof(maps_buf) - 1) {
			close(fd);
			return 0;
		}
		n = read(fd, maps_buf + maps_len, sizeof(maps_buf) - 1 - maps_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return 0;
		}
		if (n == 0)
			break;
		maps_len += n;
	}
	close(fd);
	maps_buf[maps_len] = 0;
	return 1;
}

/* Calls fn(start, end, line, line_len) for every maps line. */
static void for_each_vma(void (*fn)(unsigned long, unsigned long,
				    const char *, size_t, void *), void *arg)
{
	const char *p = maps_buf, *end = maps_buf + maps_len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		unsigned long s, e;
		char *q;

		s = strtoul(p, &q, 16);
		if (*q == '-') {
			e = strtoul(q + 1, NULL, 16);
			fn(s, e, p, len, arg);
		}
		p += len + 1;
	}
}

/* Token i (0-based, space separated) of a maps line; returns its length. */
static size_t token(const char *line, size_t len, int i, const char **tok)
{
	size_t k = 0, st;

	for (;;) {
		while (k < len && line[k] == ' ')
			k++;
		st = k;
		while (k < len && line[k] != ' ')
			k++;
		if (i-- == 0) {
			*tok = line + st;
			return k - st;
		}
		if (k >= len) {
			*tok = line + len;
			return 0;
		}
	}
}

static void print_vma(unsigned long s, unsigned long e, const char *line,
		      size_t len, void *arg)
{
	unsigned long lo = arena - margin, hi = arena + arena_size + margin;
	char out[4096];
	const char *t, *name;
	size_t tl, n, rest;
	int i;

	(void)arg;
	if (e <= lo || s >= hi)
		return;
	if (s < arena || e > arena + arena_size) {
		printf("! %.*s\n", (int)len, line);
		return;
	}
	n = snprintf(out, sizeof(out), "%08lx-%08lx", s - arena, e - arena);
	for (i = 1; i <= 4; i++) {	/* perms, offset, dev, inode */
		tl = token(line, len, i, &t);
		n += snprintf(out + n, sizeof(out) - n, " %.*s", (int)tl, t);
	}
	out[n++] = ' ';
	/* the name: whatever follows the inode and its padding */
	name = t + tl;
	while (name < line + len && *name == ' ')
		name++;
	rest = line + len - name;
	if (rest) {
		while (n < 72)
			out[n++] = ' ';
		out[n++] = ' ';
		if (rest > sizeof(out) - n - 1)
			rest = sizeof(out) - n - 1;
		memcpy(out + n, name, rest);
		n += rest;
	}
	printf("%.*s\n", (int)n, out);
}

static void dump(void)
{
	printf("--\n");
	if (!read_proc("/proc/self/maps")) {
		printf("! cannot read /proc/self/maps\n");
		return;
	}
	for_each_vma(print_vma, NULL);
}

/* ---------------------------------------------------------------- touch */

#define MAX_VMAS 70000
static struct { unsigned long s, e; char r, w; } tvmas[MAX_VMAS];
static int ntvmas;

static void collect_vma(unsigned long s, unsigned long e, const char *line,
			size_t len, void *arg)
{
	const char *t;

	(void)arg;
	if (e <= arena || s >= arena + arena_size || ntvmas >= MAX_VMAS)
		return;
	if (token(line, len, 1, &t) < 4)
		return;
	tvmas[ntvmas].s = s;
	tvmas[ntvmas].e = e;
	tvmas[ntvmas].r = t[0] == 'r';
	tvmas[ntvmas].w = t[1] == 'w';
	ntvmas++;
}

static sigjmp_buf touch_jmp;
static volatile sig_atomic_t touching, touch_signal;
static unsigned long touch_faults;

static void on_fault(int sig)
{
	if (touching) {
		touch_signal = sig;
		siglongjmp(touch_jmp, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One access; returns 0, or the signal it raised (then nothing was done). */
static int __attribute__((noinline)) access_page(volatile char *p, int write)
{
	if (sigsetjmp(touch_jmp, 1)) {
		touching = 0;
		return touch_signal;
	}
	touching = 1;
	if (write)
		*p = 1;
	else
		(void)*p;
	touching = 0;
	return 0;
}

/*
 * Returns 0, or -1 with errno EFAULT at the first page that raised SIGBUS
 * (a file page past EOF): the kernel's answer, as a program would meet it,
 * so the pages before it stay touched and it is not counted as a fault.
 * SIGSEGV means the maps snapshot was wrong; it is counted and skipped.
 */
static int do_touch(unsigned long off, unsigned long len)
{
	unsigned long a, start, end;
	int i = 0;

	if (!len)
		return 0;
	start = (arena + off) & ~(page_size - 1);
	end = (arena + off + len + page_size - 1) & ~(page_size - 1);
	ntvmas = 0;
	if (!read_proc("/proc/self/maps"))
		return 0;
	for_each_vma(collect_vma, NULL);
	for (a = start; a < end; a += page_size) {
		int sig;

		while (i < ntvmas && tvmas[i].e <= a)
			i++;
		if (i >= ntvmas || tvmas[i].s > a)
			continue;		/* hole */
		if (!tvmas[i].r && !tvmas[i].w)
			continue;		/* ---, --x */
		sig = access_page((volatile char *)a, tvmas[i].w);
		if (sig == SIGBUS) {
			errno = EFAULT;
			return -1;
		}
		if (sig)
			touch_faults++;
	}
	return 0;
}

/* ---------------------------------------------------------------- smaps */

/*
 * Copies the value of smaps field FIELD ("Rss", "VmFlags") of the VMA
 * holding arena+off into out, without leading and trailing blanks.
 * Returns 0, or -1 with errno ENOENT when no VMA holds that address.
 */
static int smaps_field(unsigned long off, const char *field, char *out,
		       size_t outlen)
{
	unsigned long addr = arena + off;
	size_t flen = strlen(field);
	const char *p = maps_buf, *end;
	int holds = 0;

	if (!read_proc("/proc/self/smaps")) {
		errno = EIO;
		return -1;
	}
	end = maps_buf + maps_len;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		unsigned long s;
		char *q;

		s = strtoul(p, &q, 16);
		if (q != p && *q == '-') {	/* a VMA's header line */
			holds = s <= addr && addr < strtoul(q + 1, NULL, 16);
		} else if (holds && len > flen && !memcmp(p, field, flen) &&
			   p[flen] == ':') {
			const char *v = p + flen + 1, *ve = p + len;

			while (v < ve && *v == ' ')
				v++;
			while (ve > v && ve[-1] == ' ')
				ve--;
			if ((size_t)(ve - v) >= outlen)
				ve = v + outlen - 1;
			memcpy(out, v, ve - v);
			out[ve - v] = 0;
			return 0;
		}
		p += len + 1;
	}
	errno = ENOENT;
	return -1;
}

/* ---------------------------------------------------------------- count */

static unsigned long nvmas;

static void count_vma(unsigned long s, unsigned long e, const char *line,
		      size_t len, void *arg)
{
	(void)line;
	(void)len;
	(void)arg;
	if (s < 0xffffffffff600000UL)	/* the gate VMA is not in map_count */
		nvmas++;
	(void)e;
}

static unsigned long count_vmas(void)
{
	nvmas = 0;
	if (read_proc("/proc/self/maps"))
		for_each_vma(count_vma, NULL);
	return nvmas;
}

/* ------------------------------------------------------------------ ops */

static void report_addr(void *r)
{
	unsigned long a = (unsigned long)r;

	if (r == MAP_FAILED)
		printf("error: %s\n", errno_name(errno));
	else if (a >= arena && a < arena + arena_size)
		printf("0x%lx\n", a - arena);
	else
		printf("outside 0x%lx\n", a);
}

static void report_int(int r)
{
	if (r)
		printf("error: %s\n", errno_name(errno));
	else
		printf("0\n");
}

#define SYNTAX() do { printf("refused: syntax\n"); return; } while (0)
#define OUTSIDE() do { printf("refused: out-of-arena\n"); return; } while (0)

/* "fd=N": 1 with *fd set; not of that form: 0; malformed: -1 */
static int parse_fd_word(const char *s, int *fd)
{
	unsigned long n;

	if (strncmp(s, "fd=", 3))
		return 0;
	if (!parse_num(s + 3, &n) || n > INT_MAX)
		return -1;
	*fd = (int)n;
	return 1;
}

/*
 * The file of a mapping given by PATH is opened the way a program would
 * open it for that mapping: read-write for a shared writable one, else
 * read-only; it is closed right after the mmap.
 */
static void *mmap_path(void *addr, unsigned long len, int prot, int flags,
		       const char *path, unsigned long offset)
{
	int writable = (flags & MAP_SHARED) && (prot & PROT_WRITE);
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	int saved;
	void *r;

	if (fd < 0)
		return MAP_FAILED;
	r = mmap(addr, len, prot, flags, fd, offset);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

#define LOW_WINDOW 0x100000UL	/* mmaplow: [0, 1 MiB) holds nothing */
#define HUGE_2M 0x200000UL

static unsigned long last_nohint;	/* start of the last mmapnohint */

static void report_nohint(void *r, unsigned long len)
{
	unsigned long a = (unsigned long)r;
	unsigned long end = a + ((len + page_size - 1) & ~(page_size - 1));
	int aligned = !(a & (HUGE_2M - 1));

	if (r == MAP_FAILED) {
		printf("error: %s\n", errno_name(errno));
		return;
	}
	if (!last_nohint)
		printf("aligned2m=%d first\n", aligned);
	else if (end <= last_nohint)
		printf("aligned2m=%d gap=0x%lx\n", aligned, last_nohint - end);
	else
		printf("aligned2m=%d above\n", aligned);
	last_nohint = a;
}

static void run_line(char *line)
{
	char *tok[8], *save = NULL, *w;
	int nt = 0;
	unsigned long off, len, len2, noff = 0;
	int prot, flags;

	for (w = strtok_r(line, " \t\r\n", &save); w;
	     w = strtok_r(NULL, " \t\r\n", &save)) {
		if (nt == 8)
			SYNTAX();
		tok[nt++] = w;
	}
	if (nt == 0 || tok[0][0] == '#')
		return;

	if (!strcmp(tok[0], "mmap")) {
		int fd = -1, by_fd = 0;
		unsigned long foff = 0;
		void *addr;

		if ((nt != 5 && nt != 7) || !parse_num(tok[1], &off) ||
		    !parse_num(tok[2], &len) || !parse_prot(tok[3], &prot) ||
		    !parse_flags(tok[4], mmap_words, &flags))
			SYNTAX();
		if (nt == 7 && ((by_fd = parse_fd_word(tok[5], &fd)) < 0 ||
				!parse_num(tok[6], &foff)))
			SYNTAX();
		if (!in_arena(off, len))
			OUTSIDE();
		if (!(flags & MAP_FIXED_NOREPLACE))
			flags |= MAP_FIXED;
		addr = (void *)(arena + off);
		if (nt == 7 && !by_fd)
			report_addr(mmap_path(addr, len, prot, flags, tok[5], foff));
		else
			report_addr(mmap(addr, len, prot, flags, fd, foff));
	} else if (!strcmp(tok[0], "open")) {
		int mode = O_RDONLY;
		int fd;

		if (nt < 2 || nt > 3)
			SYNTAX();
		if (nt == 3 && !strcmp(tok[2], "w"))
			mode = O_WRONLY;
		else if (nt == 3 && !strcmp(tok[2], "rw"))
			mode = O_RDWR;
		else if (nt == 3 && strcmp(tok[2], "r"))
			SYNTAX();
		fd = open(tok[1], mode);
		if (fd < 0)
			printf("error: %s\n", errno_name(errno));
		else
			printf("%d\n", fd);
	} else if (!strcmp(tok[0], "close")) {
		if (nt != 2 || !parse_num(tok[1], &off) || off > INT_MAX)
			SYNTAX();
		report_int(close((int)off));
	} else if (!strcmp(tok[0], "vmflags") || !strcmp(tok[0], "rss")) {
		char value[256];

		if (nt != 2 || !parse_num(tok[1], &off))
			SYNTAX();
		if (!in_arena(off, 1))
			OUTSIDE();
		if (smaps_field(off, tok[0][0] == 'r' ? "Rss" : "VmFlags",
				value, sizeof(value)))
			printf("error: %s\n", errno_name(errno));
		else if (tok[0][0] == 'r')
			printf("%lu\n", strtoul(value, NULL, 10));
		else
			printf("%s\n", value);
	} else if (!strcmp(tok[0], "mmapnohint")) {
		if (nt != 4 || !parse_num(tok[1], &len) ||
		    !parse_prot(tok[2], &prot) ||
		    !parse_flags(tok[3], mmap_words, &flags) ||
		    (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
			SYNTAX();
		report_nohint(mmap(NULL, len, prot, flags, -1, 0), len);
	} else if (!strcmp(tok[0], "mmaplow")) {
		void *r;

		if (nt != 5 || !parse_num(tok[1], &off) ||
		    !parse_num(tok[2], &len) || !parse_prot(tok[3], &prot) ||
		    !parse_flags(tok[4], mmap_words, &flags))
			SYNTAX();
		if (off > LOW_WINDOW || len > LOW_WINDOW ||
		    ((len + page_size - 1) & ~(page_size - 1)) > LOW_WINDOW - off)
			OUTSIDE();
		r = mmap((void *)off, len, prot, flags, -1, 0);
		if (r == MAP_FAILED)
			printf("error: %s\n", errno_name(errno));
		else if ((unsigned long)r < LOW_WINDOW)
			printf("0x%lx\n", (unsigned long)r);
		else
			printf("outside 0x%lx\n", (unsigned long)r);
	} else if (!strcmp(tok[0], "munmap")) {
		if (nt != 3 || !parse_num(tok[1], &off) ||
		    !parse_num(tok[2], &len))
			SYNTAX();
		if (!in_arena(off, len))
			OUTSIDE();
		report_int(munmap((void *)(arena + off), len));
	} else if (!strcmp(tok[0], "mprotect")) {
		if (nt != 4 || !parse_num(tok[1], &off) ||
		    !parse_num(tok[2], &len) || !parse_prot(tok[3], &prot))
			SYNTAX();
		if (!in_arena(off, len))
			OUTSIDE();
		report_int(mprotect((void *)(arena + off), len, prot));
	} else if (!strcmp(tok[0], "mremap")) {
		void *r;

		flags = 0;
		if (nt < 4 || nt > 6 || !parse_num(tok[1], &off) ||
		    !parse_num(tok[2], &len) || !parse_num(tok[3], &len2) ||
		    (nt >= 5 && !parse_flags(tok[4], mremap_words, &flags)) ||
		    (nt == 6 && !parse_num(tok[5], &noff)))
			SYNTAX();
		/* source, and the in-place grown range */
		if (!in_arena(off, len) || !in_arena(off, len2))
			OUTSIDE();
		if ((flags & MREMAP_FIXED) && (nt != 6 || !in_arena(noff, len2)))
			OUTSIDE();
		r = mremap((void *)(arena + off), len, len2, flags,
			   (void *)(nt == 6 ? arena + noff : 0));
		report_addr(r);
	} else if (!strcmp(tok[0], "touch")) {
		if (nt != 3 || !parse_num(tok[1], &off) ||
		    !parse_num(tok[2], &len))
			SYNTAX();
		if (!in_arena(off, len))
			OUTSIDE();
		report_int(do_touch(off, len));
	} else if (!strcmp(tok[0], "count")) {
		if (nt != 1)
			SYNTAX();
		printf("%lu\n", count_vmas());
	} else {
		SYNTAX();
	}
}

/* ---------------------------------------------------------------- setup */

static int place_arena(unsigned long hint)
{
	unsigned long candidates[] = {
		hint, 0x100000000000UL, 0x200000000000UL, 0x300000000000UL,
		0x080000000000UL, 0x040000000000UL
	};
	unsigned long total = arena_size + 2 * margin;
	size_t i;

	for (i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		unsigned long base = candidates[i];
		void *p;

		if (!base || (hint && i))
			continue;
		p = mmap((void *)base, total, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			continue;
		if ((unsigned long)p != base) {	/* old kernels ignore NOREPLACE */
			munmap(p, total);
			continue;
		}
		munmap(p, total);
		arena = base + margin;
		return 1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: arena [-v] [-s SIZE] [-a ARENA_START] [-m MARGIN] < ops\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static char line[4096];
	unsigned long hint = 0;
	int verbose = 0, opt;
	struct sigaction sa;

	page_size = sysconf(_SC_PAGESIZE);
	arena_size = 64UL << 20;
	margin = 256UL << 20;
	while ((opt = getopt(argc, argv, "vs:a:m:")) != -1) {
		switch (opt) {
		case 'v': verbose = 1; break;
		case 's': if (!parse_num(optarg, &arena_size)) usage(); break;
		case 'a': if (!parse_num(optarg, &hint)) usage(); break;
		case 'm': if (!parse_num(optarg, &margin)) usage(); break;
		default: usage();
		}
	}
	if (optind != argc || !arena_size || (arena_size & (page_size - 1)) ||
	    (margin & (page_size - 1)) || (hint & (page_size - 1)))
		usage();
	if (hint)
		hint -= margin;
	if (!place_arena(hint)) {
		fprintf(stderr, "arena: no free place for the arena\n");
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	while (fgets(line, sizeof(line), stdin)) {
		char probe[8];

		/* skip blank and comment lines without output */
		if (sscanf(line, "%7s", probe) != 1 || probe[0] == '#')
			continue;
		run_line(line);
		if (verbose)
			dump();
		fflush(stdout);
	}
	if (!verbose)
		dump();
	if (touch_faults)
		fprintf(stderr, "arena: %lu touched pages faulted\n",
			touch_faults);
	fflush(stdout);
	return 0;
}
