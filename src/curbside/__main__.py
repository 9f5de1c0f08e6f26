from curbside.cli import main

main()
