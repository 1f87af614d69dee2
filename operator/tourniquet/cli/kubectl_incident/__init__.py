"""`kubectl incident`: the kubectl plugin an Incident Commander and responders use.

grammar     the verbs, their words and flags, and kubectl's flags (one table)
invocation  the command line parsed (argparse built from the grammar)
patches     what each verb writes, exactly as the README documents it (pure)
selector    kubectl's -l selector syntax as spec.scope.selector (pure)
screen      the status screen, who must do what next, list and timeline (pure)
completion  shell completion: kubectl's plugin protocol, bash and zsh scripts
stream      `kubectl get --watch -o json` split into objects
kubectl     the thin part: every request is a kubectl command with your flags
verbs       each verb: read, build, write or print
main        the executables: kubectl-incident and kubectl_complete-incident
"""
