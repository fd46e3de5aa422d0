"""gunicorn settings for Wiser: threaded workers sized to the machine; every value can be overridden by env.

On a 2-core machine: 3 worker processes (cores + 1) x 4 threads. Threads overlap the waits on PostgreSQL,
Redis and the model (a chat turn waits seconds on it); the processes spread the Python work over the cores.
No keep-alive by default: the reverse proxy keeps the browsers' connections open and sends gunicorn one
request per connection (nginx's default towards an upstream), so every request goes to whichever process is
free. Keep-alive connections stick to the process that accepted them; in bench/load.py that gave 355-650
votes/s depending on the sizing against about 700, and a p99 of 111 ms at 500 votes/s against 17-26 ms
(docs/reliability.md, Load).
https://docs.gunicorn.org/en/stable/settings.html
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 0))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", 1000))
# Shorter than the proxy's timeout; a request stuck longer than this is killed and its worker replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
# Recycle workers now and then, jittered so they do not all restart at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 20000))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", 2000))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # empty: no access log
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket (`gunicornc`) defaults to one path per user (~/.gunicorn/gunicorn.ctl), so two
# instances of one user (web and a bench, or two sites) would share it. Off unless a path is given.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "") or "gunicorn.ctl"
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
