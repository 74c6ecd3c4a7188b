"""`python -m pricing_service serve` is `pricing-service serve`."""

import sys

from pricing_service.cli.serve import main

sys.exit(main())
