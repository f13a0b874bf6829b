"""Sleep-time compute: work done on a collection before questions arrive, used when they do.

What lives here: the entity-link graph (`links`, no LLM), LLM distillation of passages into
facts and the questions they answer (`distil`), the on-disk results beside the collection
(`store`), the resumable job that builds them (`job`, paused and reported through `progress`),
the search wrapper that uses them at question time (`search`), and the server's idle-time
runner (`sleep`). Why: work moved off the critical path (Lin et al. 2025, "sleep-time
compute") makes each later question cheaper.
"""
