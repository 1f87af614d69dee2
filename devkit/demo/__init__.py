"""`make demo`: Tourniquet's main job on the local control plane, narrated step by step.

A bad rollout hurts a service; the on-call declares an Incident; Tourniquet names the
suspect rollout and offers its undo; someone who is not the Incident Commander cannot
approve it; the Incident Commander approves; the operator undoes the rollout, follows
it to completion and records everything; the all-clear; MTTR from /metrics.

Every command is the real one, printed before it runs (`$ kubectl ...`) and followed
by its real output. Every wait is a poll with a deadline. Exit status 0 means every
step's check passed. Runnable again at any time: the namespace is recreated.

    plan.py            the steps, in order, each with its title and why
    cluster_steps.py   the stage: control plane, namespace and people, operator, clean-up
    incident_steps.py  the story: rollouts, the Incident, approvals, the undo, MTTR
    session.py         what the steps share (cluster, operator, files, waits)
    narrator.py        how it speaks (headlines, commands and their output, verdict)
    script.py          names, manifests and commands, as data (unit-tested)
"""
