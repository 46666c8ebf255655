"""The application layer: the pipeline every event takes, and one package per feature. It decides
nothing clinical itself (the pure core does) and talks to the world only through its ports."""
