"""The service benchmark (`make bench`): Ray Serve against bare uvicorn and the in-process floor."""
