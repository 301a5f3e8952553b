import sys

try:  # Ctrl-C while the command's modules load (torch takes seconds): one line, no traceback
    from srlib.cli import main

    code = main()
except KeyboardInterrupt:
    print("srlib: interrupted", file=sys.stderr)
    code = 130
raise SystemExit(code)
