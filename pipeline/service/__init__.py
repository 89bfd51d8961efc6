"""`tokenmill serve`: an HTTP API over Ray Jobs (`app`), with a job store (`store`, its
Alembic `migrations`), named bearer tokens (`auth`), the roots jobs may touch (`roots`),
a request body limit (`body_limit`), Prometheus metrics (`metrics`) and a jobs page
(`page`); `jobs` is what it does with jobs, through the same code as `tokenmill submit`."""
