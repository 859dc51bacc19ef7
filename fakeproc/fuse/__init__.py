"""The only package that speaks pyfuse3: the filesystem, the daemon that serves it, and the transport floor."""
