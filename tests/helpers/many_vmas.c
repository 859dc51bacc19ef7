/* Hold an address space with N VMAs until stdin closes: the real-kernel side of
 * clone-fidelity tests and of scripts/bench-read.
 * Usage: many_vmas N    (prints "ready <pid>" once the VMAs exist) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long count = argc > 1 ? strtol(argv[1], NULL, 0) : 1000;
	long page = sysconf(_SC_PAGESIZE);
	char buf[1];
	char *region;

	if (count < 1) {
		fprintf(stderr, "many_vmas: N must be positive\n");
		return 2;
	}
	region = mmap(NULL, count * page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED) {
		perror("many_vmas: mmap");
		return 1;
	}
	/* Every other page read-only: neighbours differ, so none merge. */
	for (long i = 1; i < count; i += 2) {
		if (mprotect(region + i * page, page, PROT_READ)) {
			perror("many_vmas: mprotect");
			return 1;
		}
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}
