"""`python -m streetsight`: the same as the `streetsight` command."""
from streetsight.cli import main

raise SystemExit(main())
