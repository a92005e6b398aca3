-- The hptui store's schema at version 12, whole: the migrations of
-- storage/schema.py applied to an empty database. Generated: do not edit. After a
-- change to the migrations, regenerate it from the repository root with
--     python -m storage.schema > storage/schema.sql
-- (a test fails while it and the migrations disagree).

CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    created_at REAL NOT NULL,
    kind TEXT NOT NULL,       -- pause, resume, stop, cancel, edit_space, edit_rules
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','done','refused')),
    handled_at REAL,
    message TEXT
);

CREATE INDEX commands_pending ON commands (run_id, status);

CREATE TABLE epochs (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    epoch INTEGER NOT NULL,
    loss REAL, accuracy REAL, val_loss REAL, val_accuracy REAL,
    seconds REAL,
    UNIQUE (trial_id, epoch)
);

CREATE INDEX epochs_run ON epochs (run_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    created_at REAL NOT NULL,
    level TEXT NOT NULL DEFAULT 'info',
    message TEXT NOT NULL
);

CREATE INDEX events_run ON events (run_id, id);

CREATE TABLE importance (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    updated_at REAL NOT NULL,
    space_version INTEGER NOT NULL,           -- the space it was computed in
    finished INTEGER NOT NULL,                -- the run's finished search trials then
    trials_read INTEGER NOT NULL,             -- the newest of them it was computed from
    metric TEXT NOT NULL,                     -- score or val_accuracy
    measured INTEGER,                         -- those with a value of the metric
    fitted INTEGER,                           -- those the GP was fitted on
    shares TEXT                               -- JSON: name -> share; NULL: none (a flat
                                              -- metric, too few trials)
);

CREATE TABLE ppo_updates (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    ppo_epoch INTEGER NOT NULL,
    traj_len INTEGER NOT NULL,
    n_steps INTEGER NOT NULL,
    mean_reward REAL, best_reward REAL,
    actor_loss REAL, critic_loss REAL, entropy REAL, approx_kl REAL,
    clip_fraction REAL, mean_std REAL,
    created_at REAL NOT NULL, explained_variance REAL,
    UNIQUE (run_id, ppo_epoch)
);

CREATE TABLE pruner_settings (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    settings TEXT NOT NULL,                   -- JSON: engine.pruners.PrunerSettings
    change TEXT NOT NULL,
    source TEXT NOT NULL,
    UNIQUE (run_id, version)
);

CREATE TABLE "runs" (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running','paused','stopping','finished','failed','cancelled',
                          'interrupted')),
    phase TEXT NOT NULL DEFAULT 'starting',
    progress TEXT NOT NULL DEFAULT '{}',
    strategy TEXT NOT NULL,
    profile TEXT NOT NULL,
    seed INTEGER NOT NULL,
    workers INTEGER NOT NULL,
    config TEXT NOT NULL,
    data_source TEXT,
    data_location TEXT,
    data_reason TEXT,
    device TEXT,
    precision TEXT,
    planned_trials INTEGER,
    space_version INTEGER NOT NULL DEFAULT 1,
    engine_pid INTEGER,
    engine_host TEXT,
    heartbeat REAL,
    log_path TEXT,
    final TEXT,
    error TEXT,
    engine_token TEXT
);

CREATE TABLE space_versions (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    space TEXT NOT NULL,                      -- JSON: name -> dimension
    rules TEXT NOT NULL,                      -- JSON: pruning rules
    change TEXT NOT NULL,
    source TEXT NOT NULL,
    UNIQUE (run_id, version)
);

CREATE TABLE strategy_history (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    log TEXT NOT NULL,                        -- the log's key in the state
    seq INTEGER NOT NULL,                     -- the index of the chunk's first entry
    chunk BLOB NOT NULL,                      -- JSON: a list of the log's entries
    PRIMARY KEY (run_id, log, seq)
);

CREATE TABLE strategy_parts (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    name TEXT NOT NULL,                       -- the part's key in the state
    state BLOB NOT NULL,                      -- JSON: the part
    PRIMARY KEY (run_id, name)
);

CREATE TABLE strategy_state (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    updated_at REAL NOT NULL,
    state BLOB NOT NULL                       -- the strategy's saved state, for resume
);

CREATE TABLE trial_totals (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    phase TEXT NOT NULL,
    status TEXT NOT NULL,
    trials INTEGER NOT NULL,
    epochs_run INTEGER NOT NULL,              -- sum of the trials' epochs_run
    max_epochs INTEGER NOT NULL,              -- sum of their planned epochs
    measured_seconds REAL NOT NULL,           -- wall seconds of those that trained
    measured_epochs INTEGER NOT NULL,         -- (started, epochs_run > 0), and their epochs
    PRIMARY KEY (run_id, phase, status)
) WITHOUT ROWID;

CREATE TABLE "trials" (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    number INTEGER NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('queued','running','finished','failed','interrupted','cancelled',
                          'pruned')),
    phase TEXT NOT NULL,
    strategy TEXT NOT NULL,
    ppo_epoch INTEGER,
    trajectory INTEGER,
    step INTEGER,
    space_version INTEGER NOT NULL,
    config TEXT NOT NULL,
    max_epochs INTEGER,
    epochs_run INTEGER,                       -- a pruned trial: the epochs it ran
    best_epoch INTEGER,
    val_accuracy REAL,
    val_loss REAL,
    test_accuracy REAL,
    seconds REAL,
    alpha REAL, beta REAL,
    penalty REAL,
    rules_fired TEXT,
    reward REAL,
    extra TEXT,
    error TEXT,
    worker INTEGER,
    device TEXT,
    precision TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    score REAL,
    est_accuracy REAL,
    UNIQUE (run_id, number)
);

CREATE INDEX trials_run_best
    ON trials (run_id, score IS NULL, score DESC, val_accuracy DESC, number)
    WHERE status = 'finished' AND phase != 'final';

CREATE INDEX trials_run_est ON trials (run_id, est_accuracy);

CREATE INDEX trials_run_phase
    ON trials (run_id, phase, status, number, val_accuracy, reward, seconds);

CREATE INDEX trials_run_score ON trials (run_id, score);

CREATE INDEX trials_run_search_started ON trials (run_id, started_at)
    WHERE phase != 'final';

CREATE INDEX trials_run_status ON trials (run_id, status);

CREATE TRIGGER trial_totals_delete AFTER DELETE ON trials BEGIN
    INSERT INTO trial_totals (run_id, phase, status, trials, epochs_run, max_epochs,
                              measured_seconds, measured_epochs)
    VALUES (OLD.run_id, OLD.phase, OLD.status, -1,
            -1 * coalesce(OLD.epochs_run, 0),
            -1 * coalesce(OLD.max_epochs, 0),
            -1 * CASE WHEN OLD.started_at IS NOT NULL AND OLD.epochs_run > 0
                          THEN coalesce(OLD.finished_at - OLD.started_at, 0) ELSE 0 END,
            -1 * CASE WHEN OLD.started_at IS NOT NULL AND OLD.epochs_run > 0 THEN OLD.epochs_run ELSE 0 END)
    ON CONFLICT (run_id, phase, status) DO UPDATE SET
        trials = trials + excluded.trials,
        epochs_run = epochs_run + excluded.epochs_run,
        max_epochs = max_epochs + excluded.max_epochs,
        measured_seconds = measured_seconds + excluded.measured_seconds,
        measured_epochs = measured_epochs + excluded.measured_epochs;
END;

CREATE TRIGGER trial_totals_insert AFTER INSERT ON trials BEGIN
    INSERT INTO trial_totals (run_id, phase, status, trials, epochs_run, max_epochs,
                              measured_seconds, measured_epochs)
    VALUES (NEW.run_id, NEW.phase, NEW.status, 1,
            1 * coalesce(NEW.epochs_run, 0),
            1 * coalesce(NEW.max_epochs, 0),
            1 * CASE WHEN NEW.started_at IS NOT NULL AND NEW.epochs_run > 0
                          THEN coalesce(NEW.finished_at - NEW.started_at, 0) ELSE 0 END,
            1 * CASE WHEN NEW.started_at IS NOT NULL AND NEW.epochs_run > 0 THEN NEW.epochs_run ELSE 0 END)
    ON CONFLICT (run_id, phase, status) DO UPDATE SET
        trials = trials + excluded.trials,
        epochs_run = epochs_run + excluded.epochs_run,
        max_epochs = max_epochs + excluded.max_epochs,
        measured_seconds = measured_seconds + excluded.measured_seconds,
        measured_epochs = measured_epochs + excluded.measured_epochs;
END;

CREATE TRIGGER trial_totals_update
    AFTER UPDATE OF run_id, phase, status, epochs_run, max_epochs, started_at, finished_at
    ON trials BEGIN
    INSERT INTO trial_totals (run_id, phase, status, trials, epochs_run, max_epochs,
                              measured_seconds, measured_epochs)
    VALUES (OLD.run_id, OLD.phase, OLD.status, -1,
            -1 * coalesce(OLD.epochs_run, 0),
            -1 * coalesce(OLD.max_epochs, 0),
            -1 * CASE WHEN OLD.started_at IS NOT NULL AND OLD.epochs_run > 0
                          THEN coalesce(OLD.finished_at - OLD.started_at, 0) ELSE 0 END,
            -1 * CASE WHEN OLD.started_at IS NOT NULL AND OLD.epochs_run > 0 THEN OLD.epochs_run ELSE 0 END)
    ON CONFLICT (run_id, phase, status) DO UPDATE SET
        trials = trials + excluded.trials,
        epochs_run = epochs_run + excluded.epochs_run,
        max_epochs = max_epochs + excluded.max_epochs,
        measured_seconds = measured_seconds + excluded.measured_seconds,
        measured_epochs = measured_epochs + excluded.measured_epochs;
    INSERT INTO trial_totals (run_id, phase, status, trials, epochs_run, max_epochs,
                              measured_seconds, measured_epochs)
    VALUES (NEW.run_id, NEW.phase, NEW.status, 1,
            1 * coalesce(NEW.epochs_run, 0),
            1 * coalesce(NEW.max_epochs, 0),
            1 * CASE WHEN NEW.started_at IS NOT NULL AND NEW.epochs_run > 0
                          THEN coalesce(NEW.finished_at - NEW.started_at, 0) ELSE 0 END,
            1 * CASE WHEN NEW.started_at IS NOT NULL AND NEW.epochs_run > 0 THEN NEW.epochs_run ELSE 0 END)
    ON CONFLICT (run_id, phase, status) DO UPDATE SET
        trials = trials + excluded.trials,
        epochs_run = epochs_run + excluded.epochs_run,
        max_epochs = max_epochs + excluded.max_epochs,
        measured_seconds = measured_seconds + excluded.measured_seconds,
        measured_epochs = measured_epochs + excluded.measured_epochs;
END;

CREATE TABLE workers (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    slot INTEGER NOT NULL,
    pid INTEGER,
    trial_id INTEGER,
    epoch INTEGER, epochs INTEGER, batch INTEGER, batches INTEGER,
    updated_at REAL,
    UNIQUE (run_id, slot)
);
