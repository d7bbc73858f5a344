"""One module per CLI command: build dependencies, call the library, render the result."""
