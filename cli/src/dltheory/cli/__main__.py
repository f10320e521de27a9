from dltheory.cli.app import main

main()
