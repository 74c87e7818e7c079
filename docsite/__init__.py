"""The documentation site: pages generated from the project's own sources, the build, the fixes after it."""
