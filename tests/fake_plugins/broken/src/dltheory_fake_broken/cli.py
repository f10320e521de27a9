raise ImportError("fake plugin cannot import its dependency 'nonexistent_lib'")
