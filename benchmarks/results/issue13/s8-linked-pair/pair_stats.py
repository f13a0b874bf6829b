"""Offline (no model): how often each way of choosing the reader's 2 passages picks both gold
passages, and a passage holding the answer, over the 100 stored dev pools (dev300 1-100).
Run from the repository root: python benchmarks/results/issue13/s8-linked-pair/pair_stats.py"""
import json,sys
from leadline.evals.replay import pool_of
from leadline.agents.searcher import rank_pool
from leadline.graph.read import number_passages, names
from leadline.evals.metrics import normalize_title, normalize_answer
recs=[json.loads(l) for f in ('benchmarks/results/issue13/dev3-links/leadline-adaptive-auto.jsonl','benchmarks/results/issue13/dev4-48-100/leadline-adaptive-auto.jsonl') for l in open(f)]
def sel(ranked, how, W=6):
    top=ranked[:W]
    pairs=[(i,j) for i in range(len(top)) for j in range(len(top)) if i!=j and names(top[i],top[j])]
    if how=='rank' or not pairs: return ranked[:2]
    if how=='sum': i,j=min(pairs,key=lambda p:(p[0]+p[1],p))
    if how=='lex': i,j=min(pairs,key=lambda p:(min(p),max(p),p))
    if how=='top':
        pp=[p for p in pairs if 0 in p]
        if not pp: return ranked[:2]
        i,j=min(pp,key=lambda p:(p[0]+p[1],p))
    return [top[i],top[j]]
for how in ['rank','sum','lex','top']:
    g=a=0
    for r in recs:
        ranked=number_passages(rank_pool(r['question'], pool_of(r)), [])
        s=sel(ranked,how)
        sup={normalize_title(t) for t in r['supporting_titles']}
        g+= sum(normalize_title(p.title) in sup for p in s)==2
        txt=' '.join(normalize_answer(p.title+' '+p.text) for p in s)
        a+= any(normalize_answer(x) in txt for x in r['answers'])
    print(how,'gold pair',g,'answer in pair',a)
d=0
for r in recs:
    ranked=number_passages(rank_pool(r['question'], pool_of(r)), [])
    if {p.n for p in sel(ranked,'sum')}!={p.n for p in sel(ranked,'lex')}: d+=1
print('sum vs lex differ on',d)
