from taskctl.cli.main import main

main()
