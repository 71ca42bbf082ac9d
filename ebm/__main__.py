from ebm.cli import main

raise SystemExit(main())
