from agentfab.flows.cli import main

main()
