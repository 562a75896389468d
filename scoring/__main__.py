"""`python -m scoring`: see scoring/cli.py."""
from scoring.cli import main

raise SystemExit(main())
