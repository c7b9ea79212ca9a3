from neuralprog.cli import main

raise SystemExit(main())
