/* Read /proc/self/maps the way a sanitizer's library matcher does, one read(2) of a page at a
 * time, over and over for SECONDS; report how many whole reads were made, how many distinct
 * contents they saw and the most lines one read had.
 * Usage: self_maps_reader SECONDS */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_VARIANTS 4096

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static uint64_t seen[MAX_VARIANTS];
	double deadline = now() + (argc > 1 ? atof(argv[1]) : 1.0);
	long reads = 0, variants = 0, most_lines = 0;
	char page[4096];

	while (now() < deadline) {
		int fd = open("/proc/self/maps", O_RDONLY);
		if (fd < 0) {
			perror("self_maps_reader: /proc/self/maps");
			return 1;
		}
		/* FNV-1a over the whole file: two reads that saw the same maps hash alike. */
		uint64_t hash = 1469598103934665603ULL;
		long lines = 0;
		ssize_t got;
		while ((got = read(fd, page, sizeof page)) > 0) {
			for (ssize_t i = 0; i < got; i++) {
				hash = (hash ^ (unsigned char)page[i]) * 1099511628211ULL;
				lines += page[i] == '\n';
			}
		}
		close(fd);
		if (got < 0) {
			perror("self_maps_reader: read");
			return 1;
		}
		reads++;
		if (lines > most_lines)
			most_lines = lines;
		long i = 0;
		while (i < variants && seen[i] != hash)
			i++;
		if (i == variants && variants < MAX_VARIANTS)
			seen[variants++] = hash;
	}
	printf("reads=%ld variants=%ld most_lines=%ld\n", reads, variants, most_lines);
	return 0;
}
