"""`python -m services.ingest.live`: the live social media clients (same as `siaga listen`)."""

import sys

from services.cli.listen_cmd import main

sys.exit(main())
