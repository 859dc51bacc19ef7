/*
 * LD_PRELOAD library: PROCMAP_QUERY on fakeproc's simulated maps files.
 *
 * The kernel's FUSE cannot carry this ioctl (its argument points at further user buffers, the
 * name and build-ID, which FUSE's restricted ioctls cannot describe), so the query is answered
 * here, in the caller, from the `query` command of the process's ctl file.  Every other ioctl,
 * and PROCMAP_QUERY on any file that is not a simulated maps file, goes to the real ioctl.
 *
 * Build: gcc -O2 -Wall -Werror -shared -fPIC -o procmap_query.so procmap_query.c -ldl
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "procmap_query.h"

#define FUSE_SUPER_MAGIC 0x65735546
#define KERNEL_PAGE_SIZE 4096
/* A ctl answer is one maps line: fixed columns then a name of at most PATH_MAX bytes. */
#define ANSWER_BYTES (PATH_MAX + 128)

typedef int (*ioctl_function)(int, unsigned long, ...);

static ioctl_function next_ioctl(void)
{
    static ioctl_function cached;
    ioctl_function function = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (function == NULL) {
        /* Two threads may both look it up; they store the same pointer. */
        function = (ioctl_function)dlsym(RTLD_NEXT, "ioctl");
        __atomic_store_n(&cached, function, __ATOMIC_RELEASE);
    }
    return function;
}

/*
 * Copy between this library and the caller's memory with copy_{from,to}_user's contract: an
 * unmapped or read-only address is EFAULT, never a crash.  process_vm_{readv,writev} on our own
 * pid lets the kernel check the addresses; under a seccomp filter that forbids them, a plain copy
 * is all that is left.
 */
static int copy_user(void *mine, uint64_t theirs, size_t length, int to_user)
{
    struct iovec local = {mine, length};
    struct iovec remote = {(void *)(uintptr_t)theirs, length};
    ssize_t done = to_user ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0)
                           : process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (done == (ssize_t)length)
        return 0;
    if (done < 0 && (errno == ENOSYS || errno == EPERM)) {
        if (to_user)
            memcpy(remote.iov_base, mine, length);
        else
            memcpy(mine, remote.iov_base, length);
        return 0;
    }
    return EFAULT;
}

static int same_file(const char *path, const struct stat *info)
{
    struct stat other;
    return stat(path, &other) == 0 && other.st_dev == info->st_dev && other.st_ino == info->st_ino;
}

/* ".../<pid>/maps": where the process's ctl sits next to it. */
static int looks_like_maps(const char *path)
{
    size_t length = strlen(path);
    if (length < 7 || strcmp(path + length - 5, "/maps") != 0)
        return 0;
    const char *digits_end = path + length - 5, *digits = digits_end;
    while (digits > path && digits[-1] >= '0' && digits[-1] <= '9')
        digits--;
    return digits < digits_end && digits > path && digits[-1] == '/';
}

/*
 * Find which <root>/<pid>/maps the open file is, comparing device and inode: O(processes).
 * Used when /proc/self/fd cannot say, as inside `fakeproc exec`, where /proc is the mount itself.
 */
static int search_root(const char *root, const struct stat *info, char *path, size_t size)
{
    struct stat root_info;
    if (root == NULL || *root == '\0' || stat(root, &root_info) != 0 || root_info.st_dev != info->st_dev)
        return 0;
    DIR *directory = opendir(root);
    if (directory == NULL)
        return 0;
    int found = 0;
    struct dirent *entry;
    while (!found && (entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
            continue;
        int length = snprintf(path, size, "%s/%s/maps", root, entry->d_name);
        found = length > 0 && (size_t)length < size && looks_like_maps(path) && same_file(path, info);
    }
    closedir(directory);
    return found;
}

/*
 * Is fd a simulated maps file?  Fills `path` with its path when it is.  A FUSE file whose
 * inode the daemon has forgotten (the process was killed) is trusted on its path alone, so
 * that the query can answer ESRCH as the kernel does for a process that has exited.
 */
static int simulated_maps_path(int fd, char *path, size_t size)
{
    struct statfs filesystem;
    if (fstatfs(fd, &filesystem) != 0 || filesystem.f_type != FUSE_SUPER_MAGIC)
        return 0;
    struct stat info;
    int known = fstat(fd, &info) == 0;

    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, path, size - 1);
    if (length > 0) {
        path[length] = '\0';
        if (looks_like_maps(path) && (!known || same_file(path, &info)))
            return 1;
    }
    return known && (search_root("/proc", &info, path, size) ||
                     search_root(getenv("FAKEPROC_MOUNT"), &info, path, size));
}

static const struct {
    uint64_t flag;
    const char *word;
} ctl_words[] = {
    {PROCMAP_QUERY_COVERING_OR_NEXT_VMA, "covering_or_next"},
    {PROCMAP_QUERY_VMA_READABLE, "readable"},
    {PROCMAP_QUERY_VMA_WRITABLE, "writable"},
    {PROCMAP_QUERY_VMA_EXECUTABLE, "executable"},
    {PROCMAP_QUERY_VMA_SHARED, "shared"},
    {PROCMAP_QUERY_FILE_BACKED_VMA, "file_backed"},
};

/* Run `query ADDR [FLAGS]` on the ctl beside maps_path; the answer line goes to `answer`. */
static int ask_ctl(const char *maps_path, const struct procmap_query *query, char *answer, size_t size)
{
    char ctl[PATH_MAX];
    size_t directory = strlen(maps_path) - strlen("maps");
    if (directory + strlen("ctl") >= sizeof ctl)
        return ENAMETOOLONG;
    memcpy(ctl, maps_path, directory);
    strcpy(ctl + directory, "ctl");

    char command[160];
    int length = snprintf(command, sizeof command, "query %#llx", (unsigned long long)query->query_addr);
    const char *separator = " ";
    for (size_t i = 0; i < sizeof ctl_words / sizeof ctl_words[0]; i++) {
        if (query->query_flags & ctl_words[i].flag) {
            length += snprintf(command + length, sizeof command - length, "%s%s", separator, ctl_words[i].word);
            separator = ",";
        }
    }
    length += snprintf(command + length, sizeof command - length, "\n");

    int fd = open(ctl, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        /* A directory without a ctl is a real process passed through: FUSE cannot carry the ioctl,
         * so answer as a kernel without PROCMAP_QUERY would and let the caller parse the text. */
        struct stat directory_info;
        ctl[directory] = '\0';
        return stat(ctl, &directory_info) == 0 ? ENOTTY : ESRCH;
    }
    if (fd < 0)
        return errno;
    int error = 0;
    ssize_t written;
    do
        written = write(fd, command, length);
    while (written < 0 && errno == EINTR);
    if (written < 0)
        error = errno; /* the syscall's errno: ENOENT for no VMA, ESRCH once the process is gone */
    else if (written != length)
        error = EIO;
    size_t have = 0;
    while (!error && (have == 0 || answer[have - 1] != '\n')) {
        if (have + 1 >= size) {
            error = EIO;
            break;
        }
        ssize_t got = read(fd, answer + have, size - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            error = EIO;
        else
            have += got;
    }
    close(fd);
    if (!error)
        answer[have - 1] = '\0';
    return error;
}

/* Fill the out fields from `start-end perms offset major:minor inode [name]`; *name points into line. */
static int fill_from_maps_line(char *line, struct procmap_query *query, char **name)
{
    unsigned long long start, end, offset, inode;
    unsigned int major, minor;
    char perms[5];
    int consumed = 0;
    if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu%n", &start, &end, perms, &offset, &major, &minor,
               &inode, &consumed) != 7 ||
        strlen(perms) != 4)
        return EIO;
    char *rest = line + consumed;
    while (*rest == ' ')
        rest++;
    *name = rest;

    query->vma_start = start;
    query->vma_end = end;
    query->vma_flags = (perms[0] == 'r' ? PROCMAP_QUERY_VMA_READABLE : 0) |
                       (perms[1] == 'w' ? PROCMAP_QUERY_VMA_WRITABLE : 0) |
                       (perms[2] == 'x' ? PROCMAP_QUERY_VMA_EXECUTABLE : 0) |
                       (perms[3] == 's' ? PROCMAP_QUERY_VMA_SHARED : 0);
    query->vma_page_size = KERNEL_PAGE_SIZE;
    query->vma_offset = offset;
    query->inode = inode;
    query->dev_major = major;
    query->dev_minor = minor;
    return 0;
}

/* do_procmap_query: the kernel's argument checks in the kernel's order, then the answer. */
static int answer_query(const char *maps_path, uint64_t user_query)
{
    uint64_t user_size;
    if (copy_user(&user_size, user_query, sizeof user_size, 0))
        return EFAULT;
    if (user_size > KERNEL_PAGE_SIZE)
        return E2BIG;
    if (user_size < PROCMAP_QUERY_MIN_SIZE)
        return EINVAL;
    /* copy_struct_from_user: a newer caller's extra bytes are fine only while they are zero. */
    unsigned char raw[KERNEL_PAGE_SIZE];
    if (copy_user(raw, user_query, user_size, 0))
        return EFAULT;
    for (size_t i = sizeof(struct procmap_query); i < user_size; i++)
        if (raw[i] != 0)
            return E2BIG;
    struct procmap_query query;
    size_t known = user_size < sizeof query ? user_size : sizeof query;
    memset(&query, 0, sizeof query);
    memcpy(&query, raw, known);

    if (query.query_flags & ~(uint64_t)PROCMAP_QUERY_VALID_FLAGS_MASK)
        return EINVAL;
    if (!query.vma_name_size != !query.vma_name_addr)
        return EINVAL;
    if (!query.build_id_size != !query.build_id_addr)
        return EINVAL;

    char answer[ANSWER_BYTES];
    char *name;
    int error = ask_ctl(maps_path, &query, answer, sizeof answer);
    if (!error)
        error = fill_from_maps_line(answer, &query, &name);
    if (error)
        return error;

    /* The simulation maps no ELF build IDs: the kernel's answer for a file without one. */
    query.build_id_size = 0;
    if (query.vma_name_size) {
        size_t buffer = query.vma_name_size < PATH_MAX ? query.vma_name_size : PATH_MAX;
        size_t needed = *name ? strlen(name) + 1 : 0;
        if (needed > buffer)
            return ENAMETOOLONG;
        query.vma_name_size = needed;
        if (needed && copy_user(name, query.vma_name_addr, needed, 1))
            return EFAULT;
    }
    return copy_user(&query, user_query, known, 1);
}

int ioctl(int fd, unsigned long request, ...)
{
    va_list arguments;
    va_start(arguments, request);
    void *argument = va_arg(arguments, void *);
    va_end(arguments);

    /* The syscall takes an unsigned int; callers that built the number as an int sign-extend it. */
    if ((unsigned int)request == PROCMAP_QUERY) {
        char path[PATH_MAX];
        if (simulated_maps_path(fd, path, sizeof path)) {
            int error = answer_query(path, (uint64_t)(uintptr_t)argument);
            if (error) {
                errno = error;
                return -1;
            }
            return 0;
        }
    }
    ioctl_function real = next_ioctl();
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, request, argument);
}
