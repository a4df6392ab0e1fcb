"""``python -m backend serve``: the local HTTP service the Blender add-on talks to (see docs/server.md)."""
from __future__ import annotations


def register(subparsers):
    p = subparsers.add_parser("serve", help="run the local HTTP service",
                              description="Run the MotionLoom backend service. Prints 'MOTIONLOOM_SERVER <url>' "
                                          "as its first line once it accepts requests.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other address "
                                                       "requires a token)")
    p.add_argument("--port", type=int, default=8765, help="port (0: pick a free one and print it)")
    p.add_argument("--token", default=None, help="bearer token (else $MOTIONLOOM_TOKEN; generated and printed "
                                                 "when binding a non-loopback address without one)")
    p.add_argument("--max-queue", type=int, default=64, help="queued jobs beyond this are refused with 503")
    p.add_argument("--job-timeout", type=float, default=600.0, help="seconds a job may run")
    p.add_argument("--keep-results", type=float, default=900.0, help="seconds finished jobs stay readable")
    p.add_argument("--keepalive", type=float, default=10.0, help="seconds between keep-alive comments on a quiet "
                                                                 "event stream")
    p.add_argument("--max-body-mb", type=float, default=64.0, help="request body limit in MiB")
    p.add_argument("--cors-origin", action="append", default=[], help="allow this browser origin (repeatable; "
                                                                      "none by default)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--exit-with-stdin", action="store_true",
                   help="exit when standard input closes: a parent (Blender) keeps a pipe open, so the service ends "
                        "with it even when it crashes")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..server.serve import serve
    from ..server.settings import ServerSettings

    if args.port < 0 or args.port > 65535:
        raise SystemExit(f"--port must be 0..65535, got {args.port}")
    if args.keepalive <= 0 or args.job_timeout <= 0 or args.keep_results < 0 or args.max_queue < 1:
        raise SystemExit("--keepalive and --job-timeout must be positive, --keep-results >= 0, --max-queue >= 1")
    settings = ServerSettings(host=args.host, port=args.port, token=args.token, max_queue=args.max_queue,
                              job_timeout_s=args.job_timeout, keep_results_s=args.keep_results, keepalive_s=args.keepalive,
                              max_body_bytes=int(args.max_body_mb * 1024 * 1024), cors_origins=args.cors_origin,
                              torch_threads=args.threads, device=args.device)
    if args.exit_with_stdin:
        watch_stdin()
    return serve(settings, log_level=args.log_level)


def watch_stdin() -> None:
    """Exit the process as soon as standard input reaches end-of-file: the parent closed its end of the pipe, or
    died (the operating system closes it then). Jobs live in memory only, so nothing is lost by leaving at once."""
    import os
    import sys
    import threading

    def wait():
        try:
            while sys.stdin.buffer.read(4096):
                pass  # the parent never writes; anything it does write is ignored
        except (OSError, ValueError):
            pass
        try:
            print("MotionLoom backend: its parent process is gone (stdin closed); exiting", flush=True)
        except (OSError, ValueError):
            pass  # the output pipe went with the parent
        finally:
            os._exit(0)

    threading.Thread(target=wait, name="motionloom-parent-watch", daemon=True).start()
