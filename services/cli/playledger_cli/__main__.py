from playledger_cli.cli import main

main()
