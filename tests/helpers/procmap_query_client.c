/*
 * Test client for PROCMAP_QUERY, run the same way against a real /proc/<pid>/maps and a
 * simulated one so that a test can compare the kernel's answers with the simulation's.
 *
 *   procmap_query_client query MAPS ADDR[/FLAGS]...   one line per query: every field, or the errno
 *   procmap_query_client probes MAPS ADDR             the argument checks, one "case: result" line each
 *   procmap_query_client hold SPEC...                 map SPECs, print "ready", wait for stdin to close
 *   procmap_query_client fionread                     FIONREAD on a pipe holding 5 bytes
 *
 * MAPS is a path, or fd:N for a maps file the caller opened and passed down.
 * FLAGS: comma-separated covering_or_next, readable, writable, executable, shared, file_backed,
 * or a number.  SPEC: ADDR:LEN:PROT:private|shared[:PATH:OFFSET], PROT like rw-; no PATH is anonymous.
 * Build: gcc -O2 -Wall -Werror -I fakeproc/native -o client procmap_query_client.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "procmap_query.h"

static const struct {
    const char *word;
    uint64_t flag;
} flag_words[] = {
    {"covering_or_next", PROCMAP_QUERY_COVERING_OR_NEXT_VMA},
    {"readable", PROCMAP_QUERY_VMA_READABLE},
    {"writable", PROCMAP_QUERY_VMA_WRITABLE},
    {"executable", PROCMAP_QUERY_VMA_EXECUTABLE},
    {"shared", PROCMAP_QUERY_VMA_SHARED},
    {"file_backed", PROCMAP_QUERY_FILE_BACKED_VMA},
};

static void die(const char *what)
{
    fprintf(stderr, "procmap_query_client: %s\n", what);
    exit(2);
}

static uint64_t number(const char *text)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno || end == text || *end)
        die("bad number");
    return value;
}

static uint64_t parse_flags(char *text)
{
    if (text[0] >= '0' && text[0] <= '9')
        return number(text);
    uint64_t flags = 0;
    for (char *word = strtok(text, ","); word; word = strtok(NULL, ",")) {
        size_t i = 0;
        while (i < sizeof flag_words / sizeof flag_words[0] && strcmp(word, flag_words[i].word) != 0)
            i++;
        if (i == sizeof flag_words / sizeof flag_words[0])
            die("unknown flag word");
        flags |= flag_words[i].flag;
    }
    return flags;
}

static const char *errno_name(int error)
{
    switch (error) {
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case E2BIG: return "E2BIG";
    case EFAULT: return "EFAULT";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ESRCH: return "ESRCH";
    case ENOTTY: return "ENOTTY";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EIO: return "EIO";
    case ENOSYS: return "ENOSYS";
    default: return "E?";
    }
}

static int open_maps(const char *path)
{
    if (strncmp(path, "fd:", 3) == 0)
        return (int)number(path + 3);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    return fd;
}

static int query_maps(int argc, char **argv)
{
    int fd = open_maps(argv[0]);
    for (int i = 1; i < argc; i++) {
        char spec[256];
        snprintf(spec, sizeof spec, "%s", argv[i]);
        char *slash = strchr(spec, '/');
        if (slash)
            *slash++ = '\0';
        char name[PATH_MAX];
        unsigned char build_id[64];
        struct procmap_query query = {
            .size = sizeof query,
            .query_addr = number(spec),
            .query_flags = slash ? parse_flags(slash) : 0,
            .vma_name_addr = (uintptr_t)name,
            .vma_name_size = sizeof name,
            .build_id_addr = (uintptr_t)build_id,
            .build_id_size = sizeof build_id,
        };
        printf("%s: ", argv[i]);
        if (ioctl(fd, PROCMAP_QUERY, &query) != 0) {
            printf("%s\n", errno_name(errno));
            continue;
        }
        printf("start=%#llx end=%#llx flags=%#llx page_size=%llu offset=%#llx inode=%llu dev=%u:%u "
               "build_id_size=%u name_size=%u name=%s\n",
               (unsigned long long)query.vma_start, (unsigned long long)query.vma_end,
               (unsigned long long)query.vma_flags, (unsigned long long)query.vma_page_size,
               (unsigned long long)query.vma_offset, (unsigned long long)query.inode, query.dev_major,
               query.dev_minor, query.build_id_size, query.vma_name_size,
               query.vma_name_size ? name : "");
    }
    close(fd);
    return 0;
}

static void report(const char *what, int result)
{
    printf("%s: %s\n", what, result == 0 ? "OK" : errno_name(errno));
}

/* The argument checks of do_procmap_query, each alone; ADDR must lie in a file-backed VMA. */
static int probes(int argc, char **argv)
{
    if (argc != 2)
        die("usage: probes MAPS ADDR");
    int fd = open_maps(argv[0]);
    uint64_t addr = number(argv[1]);
    char name[PATH_MAX];
    /* Room for a query "from a newer kernel", with bytes past the known struct. */
    unsigned char bigger[sizeof(struct procmap_query) + 8];
    struct procmap_query *query = (struct procmap_query *)bigger;

#define FRESH() (memset(bigger, 0, sizeof bigger), query->size = sizeof *query, query->query_addr = addr)
    FRESH();
    query->size = PROCMAP_QUERY_MIN_SIZE - 1;
    report("size_below_query_addr", ioctl(fd, PROCMAP_QUERY, query));
    FRESH();
    query->size = 4097;
    report("size_over_page", ioctl(fd, PROCMAP_QUERY, query));
    FRESH();
    query->size = sizeof bigger;
    bigger[sizeof bigger - 1] = 1;
    report("nonzero_tail", ioctl(fd, PROCMAP_QUERY, query));
    FRESH();
    query->size = sizeof bigger;
    report("zero_tail", ioctl(fd, PROCMAP_QUERY, query));
    FRESH();
    query->query_flags = PROCMAP_QUERY_VALID_FLAGS_MASK + 1;
    report("unknown_flag", ioctl(fd, PROCMAP_QUERY, query));
    FRESH();
    query->vma_name_size = 16;
    report("name_size_without_addr", ioctl(fd, PROCMAP_QUERY, query));
    FRESH();
    query->vma_name_addr = (uintptr_t)name;
    report("name_addr_without_size", ioctl(fd, PROCMAP_QUERY, query));
    FRESH();
    query->build_id_size = 16;
    report("build_id_size_without_addr", ioctl(fd, PROCMAP_QUERY, query));
    report("null_argument", ioctl(fd, PROCMAP_QUERY, NULL));

    FRESH();
    query->vma_name_addr = (uintptr_t)name;
    query->vma_name_size = sizeof name;
    if (ioctl(fd, PROCMAP_QUERY, query) != 0 || query->vma_name_size < 2)
        die("probes: ADDR must lie in a named VMA");
    uint32_t name_size = query->vma_name_size;
    FRESH();
    query->vma_name_addr = (uintptr_t)name;
    query->vma_name_size = name_size;
    int result = ioctl(fd, PROCMAP_QUERY, query);
    printf("name_exact_fit: %s size_kept=%d\n", result == 0 ? "OK" : errno_name(errno),
           query->vma_name_size == name_size);
    FRESH();
    query->vma_name_addr = (uintptr_t)name;
    query->vma_name_size = name_size - 1;
    report("name_one_short", ioctl(fd, PROCMAP_QUERY, query));

    long page = sysconf(_SC_PAGESIZE);
    unsigned char *pages = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED)
        die("mmap");
    munmap(pages + page, page);
    FRESH();
    query->vma_name_addr = (uintptr_t)(pages + page);
    query->vma_name_size = name_size;
    report("name_buffer_unmapped", ioctl(fd, PROCMAP_QUERY, query));
    /* A struct whose bytes run into the unmapped page: the kernel's copy-in faults. */
    struct procmap_query *straddling = (struct procmap_query *)(pages + page - 32);
    FRESH();
    memcpy(straddling, query, 32);
    report("struct_runs_off_the_page", ioctl(fd, PROCMAP_QUERY, straddling));
    /* A struct the kernel can read but not write back. */
    FRESH();
    memcpy(pages, query, sizeof *query);
    mprotect(pages, page, PROT_READ);
    report("struct_read_only", ioctl(fd, PROCMAP_QUERY, pages));
    munmap(pages, page);

    /* Only min(size, sizeof) bytes are written back: the end fields keep their canaries. */
    FRESH();
    query->size = offsetof(struct procmap_query, vma_end);
    query->vma_end = 0xcafe;
    result = ioctl(fd, PROCMAP_QUERY, query);
    printf("short_struct: %s start_written=%d end_untouched=%d\n", result == 0 ? "OK" : errno_name(errno),
           query->vma_start != 0, query->vma_end == 0xcafe);
#undef FRESH
    close(fd);
    return 0;
}

static int hold(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        char spec[PATH_MAX + 128];
        snprintf(spec, sizeof spec, "%s", argv[i]);
        char *fields[6] = {0};
        int count = 0;
        for (char *field = strtok(spec, ":"); field && count < 6; field = strtok(NULL, ":"))
            fields[count++] = field;
        if (count != 4 && count != 6)
            die("SPEC is ADDR:LEN:PROT:private|shared[:PATH:OFFSET]");
        const char *prot_text = fields[2];
        int prot = (prot_text[0] == 'r' ? PROT_READ : 0) | (prot_text[1] == 'w' ? PROT_WRITE : 0) |
                   (prot_text[2] == 'x' ? PROT_EXEC : 0);
        int flags = MAP_FIXED_NOREPLACE | (strcmp(fields[3], "shared") == 0 ? MAP_SHARED : MAP_PRIVATE);
        int fd = -1;
        off_t offset = 0;
        if (count == 6) {
            fd = open(fields[4], (prot & PROT_WRITE) && (flags & MAP_SHARED) ? O_RDWR : O_RDONLY);
            if (fd < 0)
                die("open SPEC PATH");
            offset = number(fields[5]);
        } else {
            flags |= MAP_ANONYMOUS;
        }
        void *at = (void *)(uintptr_t)number(fields[0]);
        if (mmap(at, number(fields[1]), prot, flags, fd, offset) != at)
            die("mmap SPEC");
        if (fd >= 0)
            close(fd);
    }
    printf("ready\n");
    fflush(stdout);
    char byte;
    while (read(0, &byte, 1) > 0)
        ;
    return 0;
}

static int fionread(void)
{
    int pipe_fds[2];
    int pending = -1;
    if (pipe(pipe_fds) != 0 || write(pipe_fds[1], "hello", 5) != 5)
        die("pipe");
    int result = ioctl(pipe_fds[0], FIONREAD, &pending);
    printf("fionread: %s pending=%d\n", result == 0 ? "OK" : errno_name(errno), pending);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "query") == 0)
        return query_maps(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "probes") == 0)
        return probes(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "hold") == 0)
        return hold(argc - 2, argv + 2);
    if (argc == 2 && strcmp(argv[1], "fionread") == 0)
        return fionread();
    die("usage: query MAPS ADDR[/FLAGS]... | probes MAPS ADDR | hold SPEC... | fionread");
    return 2;
}
