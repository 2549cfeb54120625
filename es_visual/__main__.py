from es_visual.cli import main

main()
