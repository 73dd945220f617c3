# A python3 script building dicts, lists and JSON runs unchanged and reports no leak of its own
# making (issue 4's "done when"; valgrind agrees on the same command).
# EXPECT-PROCS: 1
# EXPECT parent: leaked_blocks=0 exit_kind=exit exit_status=0
. "$(dirname "$0")/common.bash"
fl_compare /usr/bin/python3 -c '
import json
rows = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7), "x"], "score": i * 0.5}
        for i in range(20000)]
index = {r["name"]: r for r in rows}
text = json.dumps(rows)
back = json.loads(text)
nested = {"a": [list(range(100)) for _ in range(50)], "b": {str(k): {"v": k} for k in range(500)}}
print(len(text), len(back), len(index), sum(len(v) for v in nested["a"]), len(json.dumps(nested)))
'
