from curbside.cli.main import main

main()
