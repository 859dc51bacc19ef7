/*
 * The PROCMAP_QUERY ioctl ABI (Linux 6.11+), for the preload library and the test client.
 *
 * Build hosts may carry kernel headers older than the running kernel, so the struct and the
 * constants are spelled out here when <linux/fs.h> lacks them; the layout is the kernel's uapi.
 */
#ifndef FAKEPROC_PROCMAP_QUERY_H
#define FAKEPROC_PROCMAP_QUERY_H

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#ifndef PROCMAP_QUERY
#define PROCFS_IOCTL_MAGIC 'f'

enum procmap_query_flags {
    PROCMAP_QUERY_VMA_READABLE = 0x01,
    PROCMAP_QUERY_VMA_WRITABLE = 0x02,
    PROCMAP_QUERY_VMA_EXECUTABLE = 0x04,
    PROCMAP_QUERY_VMA_SHARED = 0x08,
    PROCMAP_QUERY_COVERING_OR_NEXT_VMA = 0x10,
    PROCMAP_QUERY_FILE_BACKED_VMA = 0x20,
};

struct procmap_query {
    __u64 size;
    __u64 query_flags;
    __u64 query_addr;
    __u64 vma_start;
    __u64 vma_end;
    __u64 vma_flags;
    __u64 vma_page_size;
    __u64 vma_offset;
    __u64 inode;
    __u32 dev_major;
    __u32 dev_minor;
    __u32 vma_name_size;
    __u32 build_id_size;
    __u64 vma_name_addr;
    __u64 build_id_addr;
};

#define PROCMAP_QUERY _IOWR(PROCFS_IOCTL_MAGIC, 17, struct procmap_query)
#endif

/* The kernel keeps this mask private (fs/proc/task_mmu.c); any other bit is EINVAL. */
#define PROCMAP_QUERY_VALID_FLAGS_MASK                                                          \
    (PROCMAP_QUERY_VMA_READABLE | PROCMAP_QUERY_VMA_WRITABLE | PROCMAP_QUERY_VMA_EXECUTABLE |   \
     PROCMAP_QUERY_VMA_SHARED | PROCMAP_QUERY_COVERING_OR_NEXT_VMA | PROCMAP_QUERY_FILE_BACKED_VMA)

/* offsetofend(struct procmap_query, query_addr): the smallest size the kernel accepts. */
#define PROCMAP_QUERY_MIN_SIZE 24

_Static_assert(sizeof(struct procmap_query) == 104, "struct procmap_query must match the kernel's uapi");

#endif
