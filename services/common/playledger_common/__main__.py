from playledger_common.cli import main

main()
