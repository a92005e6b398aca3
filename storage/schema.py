"""The experiment store's schema and its migrations.

`PRAGMA user_version` holds the schema version; MIGRATIONS[i] takes a store from version i
to i + 1. `PRAGMA application_id` marks the file as ours, so a foreign SQLite file given as
`--db` is refused instead of written into.
"""

APPLICATION_ID = 0x48505455  # "HPTU"

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        status TEXT NOT NULL DEFAULT 'running'
            CHECK (status IN ('running','paused','stopping','finished','failed','cancelled')),
        phase TEXT NOT NULL DEFAULT 'starting',   -- starting, warmup, ppo, search, final, done
        progress TEXT NOT NULL DEFAULT '{}',      -- JSON: counts and budgets for the header
        strategy TEXT NOT NULL,
        profile TEXT NOT NULL,
        seed INTEGER NOT NULL,
        workers INTEGER NOT NULL,
        config TEXT NOT NULL,                     -- JSON: the whole run configuration
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
        final TEXT,                               -- JSON: final validation summary
        error TEXT
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
    CREATE TABLE trials (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        number INTEGER NOT NULL,                  -- 1, 2, ... within the run
        status TEXT NOT NULL
            CHECK (status IN ('queued','running','finished','failed','interrupted','cancelled')),
        phase TEXT NOT NULL,                      -- warmup, ppo, search, final
        strategy TEXT NOT NULL,
        ppo_epoch INTEGER,
        trajectory INTEGER,
        step INTEGER,
        space_version INTEGER NOT NULL,
        config TEXT NOT NULL,                     -- JSON: the hyperparameters
        lr REAL, batch_size INTEGER, lstm_units INTEGER, dropout REAL,
        embed_dim INTEGER, lstm_layers INTEGER, optimizer TEXT,
        max_epochs INTEGER,
        epochs_run INTEGER,
        best_epoch INTEGER,
        val_accuracy REAL,                        -- of the weights kept (best epoch)
        val_loss REAL,
        test_accuracy REAL,                       -- final validation only
        seconds REAL,
        alpha REAL, beta REAL,
        penalty REAL,
        rules_fired TEXT,                         -- JSON list of rule names
        reward REAL,
        extra TEXT,                               -- JSON: PPO state, action, log-prob
        error TEXT,
        worker INTEGER,
        device TEXT,
        precision TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        UNIQUE (run_id, number)
    );
    CREATE INDEX trials_run_status ON trials (run_id, status);
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
    CREATE TABLE ppo_updates (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        ppo_epoch INTEGER NOT NULL,
        traj_len INTEGER NOT NULL,
        n_steps INTEGER NOT NULL,
        mean_reward REAL, best_reward REAL,
        actor_loss REAL, critic_loss REAL, entropy REAL, approx_kl REAL,
        clip_fraction REAL, mean_std REAL,
        created_at REAL NOT NULL,
        UNIQUE (run_id, ppo_epoch)
    );
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
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        created_at REAL NOT NULL,
        level TEXT NOT NULL DEFAULT 'info',
        message TEXT NOT NULL
    );
    CREATE INDEX events_run ON events (run_id, id);
    CREATE TABLE strategy_state (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id),
        updated_at REAL NOT NULL,
        state BLOB NOT NULL                       -- the strategy's saved state, for resume
    );
    """,
]

MIGRATIONS.append(
    # 1 -> 2: a score that ranks trials from early and late in a run alike. `reward` uses the
    # adaptive weights of the trial's own moment (PPO learns from it); `score` is the reward
    # under one set of weights for every trial, the run's final ones (α 0.6, β 0.4).
    """
    ALTER TABLE trials ADD COLUMN score REAL;
    UPDATE trials SET score = 60.0 * val_accuracy - 0.04 * seconds - coalesce(penalty, 0)
        WHERE status = 'finished' AND phase != 'final';
    CREATE INDEX trials_run_score ON trials (run_id, score);
    """
)

MIGRATIONS.append(
    # 2 -> 3: strategy state is JSON data, never a pickle (unpickling a store someone sent runs
    # their code). The pickles older versions saved are overwritten with a marker, so resuming
    # such a run says why it cannot, and no version of hptui ever loads them.
    """
    UPDATE strategy_state
        SET state = CAST('{"format": "hptui-dropped-pickle"}' AS BLOB), updated_at = updated_at;
    """
)

MIGRATIONS.append(
    # 3 -> 4: a fencing token. An engine writes a fresh token when it takes a run's lock and
    # checks it before every write of run data; one that finds another token lost the lock
    # (it was stopped, or another engine took over) and stops instead of writing beside it.
    """
    ALTER TABLE runs ADD COLUMN engine_token TEXT;
    """
)

MIGRATIONS.append(
    # 4 -> 5: the best trial is the one with the highest *estimated* accuracy (a GP's
    # posterior mean over the run's trials, engine.estimate), not the luckiest measurement.
    # Older runs have no estimate; they keep ranking by score.
    """
    ALTER TABLE trials ADD COLUMN est_accuracy REAL;
    CREATE INDEX trials_run_est ON trials (run_id, est_accuracy);
    """
)

# The run columns at schema 6, in the order of the table (for copying rows between tables).
_RUN_COLUMNS = """id, created_at, started_at, finished_at, status, phase, progress, strategy,
    profile, seed, workers, config, data_source, data_location, data_reason, device, precision,
    planned_trials, space_version, engine_pid, engine_host, heartbeat, log_path, final, error,
    engine_token"""

# The trial columns, in the order of the table (for copying rows between tables).
_TRIAL_COLUMNS = """id, run_id, number, status, phase, strategy, ppo_epoch, trajectory, step,
    space_version, config, lr, batch_size, lstm_units, dropout, embed_dim, lstm_layers,
    optimizer, max_epochs, epochs_run, best_epoch, val_accuracy, val_loss, test_accuracy,
    seconds, alpha, beta, penalty, rules_fired, reward, extra, error, worker, device,
    precision, created_at, started_at, finished_at, score, est_accuracy"""

MIGRATIONS.append(
    # 5 -> 6: learning-curve pruning (engine.pruners). A trial the engine stopped after an
    # epoch is stored `pruned`, which the status CHECK must allow: SQLite cannot alter a CHECK,
    # so `trials` is rebuilt (new table, copy, drop, rename, indexes again). `epochs` refers to
    # `trials`, so it is set aside and rebuilt after it (dropping a parent with children fails
    # while foreign keys are on). The pruner's settings are versioned per run, like the space.
    f"""
    CREATE TABLE trials_new (
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
        lr REAL, batch_size INTEGER, lstm_units INTEGER, dropout REAL,
        embed_dim INTEGER, lstm_layers INTEGER, optimizer TEXT,
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
    INSERT INTO trials_new ({_TRIAL_COLUMNS}) SELECT {_TRIAL_COLUMNS} FROM trials;
    CREATE TABLE epochs_saved AS SELECT * FROM epochs;
    DROP TABLE epochs;
    DROP TABLE trials;
    ALTER TABLE trials_new RENAME TO trials;
    CREATE INDEX trials_run_status ON trials (run_id, status);
    CREATE INDEX trials_run_score ON trials (run_id, score);
    CREATE INDEX trials_run_est ON trials (run_id, est_accuracy);
    CREATE TABLE epochs (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        trial_id INTEGER NOT NULL REFERENCES trials(id),
        epoch INTEGER NOT NULL,
        loss REAL, accuracy REAL, val_loss REAL, val_accuracy REAL,
        seconds REAL,
        UNIQUE (trial_id, epoch)
    );
    INSERT INTO epochs (id, run_id, trial_id, epoch, loss, accuracy, val_loss, val_accuracy,
                        seconds)
        SELECT id, run_id, trial_id, epoch, loss, accuracy, val_loss, val_accuracy, seconds
        FROM epochs_saved;
    DROP TABLE epochs_saved;
    CREATE INDEX epochs_run ON epochs (run_id);
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
    """
)

MIGRATIONS.append(
    # 6 -> 7: `cancelled` meant two things, a user's `hptui cancel` (the run is over) and an
    # interruption by a signal (Ctrl+C, SIGTERM; resumable). An interrupted run is now
    # `interrupted`, which the status CHECK must allow: `runs` is rebuilt (new table, copy,
    # drop, rename). Foreign keys are off while migrations run (storage.store), so dropping
    # the parent of every other table deletes nothing, and the rename points them at the new
    # one. A cancelled run whose cancel was never carried out by its engine was interrupted.
    f"""
    CREATE TABLE runs_new (
        id INTEGER PRIMARY KEY,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        status TEXT NOT NULL DEFAULT 'running'
            CHECK (status IN ('running','paused','stopping','finished','failed','cancelled',
                              'interrupted')),
        phase TEXT NOT NULL DEFAULT 'starting',
        progress TEXT NOT NULL DEFAULT '{{}}',
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
    INSERT INTO runs_new ({_RUN_COLUMNS}) SELECT {_RUN_COLUMNS} FROM runs;
    UPDATE runs_new SET status = 'interrupted'
        WHERE status = 'cancelled' AND NOT EXISTS (
            SELECT 1 FROM commands c
            WHERE c.run_id = runs_new.id AND c.kind = 'cancel' AND c.status = 'done');
    DROP TABLE runs;
    ALTER TABLE runs_new RENAME TO runs;
    """
)

SCHEMA_VERSION = len(MIGRATIONS)
