use super::*;
use crate::InmemStorage;

fn put(k: &str, v: &[u8]) -> Op {
    Op::Put(k.to_string(), v.to_vec())
}

fn del(k: &str) -> Op {
    Op::Delete(k.to_string())
}

#[tokio::test]
async fn get_put_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(&dir.path().join("nested/data")).unwrap();
    assert_eq!(s.kind(), "file");
    assert!(s.path().ends_with(DB_FILE_NAME));
    assert!(s.path().exists());
    assert_eq!(s.get("a").await.unwrap(), None);
    s.put("a", b"1".to_vec()).await.unwrap();
    assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    s.put("a", b"2".to_vec()).await.unwrap();
    assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"2"[..]));
    s.put("empty", Vec::new()).await.unwrap();
    assert_eq!(s.get("empty").await.unwrap(), Some(Vec::new()));
    s.delete("a").await.unwrap();
    assert_eq!(s.get("a").await.unwrap(), None);
    // Deleting a missing key is not an error (Vault's physical.Delete).
    s.delete("never-there").await.unwrap();
    s.write(Vec::new()).await.unwrap();
    assert_eq!(s.stats().failed_batches, 0);
}

#[tokio::test]
async fn list_and_keys_with_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).unwrap();
    s.write(vec![
        put("x/a", b"1"),
        put("x/b/c", b"2"),
        put("x/b/d/e", b"3"),
        put("x/b.txt", b"4"),
        put("x/b", b"5"),
        put("x0", b"6"),
        put("x", b"7"),
        put("y", b"8"),
    ])
    .await
    .unwrap();
    assert_eq!(s.list("x/").await.unwrap(), vec!["a", "b", "b.txt", "b/"]);
    assert_eq!(s.list("x/b/").await.unwrap(), vec!["c", "d/"]);
    assert_eq!(s.list("").await.unwrap(), vec!["x", "x/", "x0", "y"]);
    assert_eq!(s.list("nothing/").await.unwrap(), Vec::<String>::new());
    assert_eq!(
        s.keys_with_prefix("x/").await.unwrap(),
        vec!["x/a", "x/b", "x/b.txt", "x/b/c", "x/b/d/e"]
    );
    assert_eq!(
        s.keys_with_prefix("x/b/").await.unwrap(),
        vec!["x/b/c", "x/b/d/e"]
    );
    assert_eq!(
        s.keys_with_prefix("zzz").await.unwrap(),
        Vec::<String>::new()
    );
}

/// `list` seeks past folders; it must agree with the plain scan of the
/// in-memory backend on awkward keys ('/' neighbours, empty segments, UTF-8).
#[tokio::test]
async fn list_matches_inmem_on_generated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = FileStorage::open(dir.path()).unwrap();
    let mem = InmemStorage::new();
    let alphabet = ["a", "b", "/", ".", "0", "-", "é", "//"];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut ops = Vec::new();
    for _ in 0..400 {
        let len = 1 + next() % 6;
        let key: String = (0..len).map(|_| alphabet[(next() % 8) as usize]).collect();
        ops.push(put(&key, b"v"));
    }
    file.write(ops.clone()).await.unwrap();
    mem.write(ops).await.unwrap();
    let mut prefixes = vec![String::new()];
    prefixes.extend(
        mem.keys_with_prefix("")
            .await
            .unwrap()
            .into_iter()
            .filter_map(|k| k.rfind('/').map(|i| k[..=i].to_string())),
    );
    prefixes.extend(["a".to_string(), "a.".to_string(), "b/".to_string()]);
    for p in &prefixes {
        assert_eq!(
            file.list(p).await.unwrap(),
            mem.list(p).await.unwrap(),
            "prefix {p:?}"
        );
        assert_eq!(
            file.keys_with_prefix(p).await.unwrap(),
            mem.keys_with_prefix(p).await.unwrap(),
            "prefix {p:?}"
        );
    }
}

#[tokio::test]
async fn batch_applies_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).unwrap();
    s.write(vec![
        put("k", b"1"),
        del("k"),
        put("k", b"2"),
        put("gone", b"x"),
        del("gone"),
    ])
    .await
    .unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(s.get("gone").await.unwrap(), None);
}

#[tokio::test]
async fn reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = FileStorage::open(dir.path()).unwrap();
        s.write(vec![
            put("p/1", b"one"),
            put("p/2", b"two"),
            put("p/3", b"three"),
        ])
        .await
        .unwrap();
        s.delete("p/2").await.unwrap();
    }
    // Dropping the first handle joined the writer and released redb's file
    // lock, so the same process can open it again right away.
    let s = FileStorage::open(dir.path()).unwrap();
    assert_eq!(s.get("p/1").await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(s.get("p/2").await.unwrap(), None);
    assert_eq!(s.list("p/").await.unwrap(), vec!["1", "3"]);
}

#[tokio::test]
async fn second_open_of_same_dir_fails_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let _s = FileStorage::open(dir.path()).unwrap();
    let err = FileStorage::open(dir.path()).expect_err("second open must fail");
    assert!(matches!(err, StorageError::Backend(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(FileStorage::open(dir.path()).unwrap());
    let before = s.stats();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..32 {
        let s = Arc::clone(&s);
        tasks.spawn(async move {
            for i in 0..10 {
                let key = format!("w{w}/{i}");
                s.write(vec![
                    put(&key, key.as_bytes()),
                    put(&format!("{key}/twin"), b"t"),
                ])
                .await
                .unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let after = s.stats();
    assert_eq!(after.batches - before.batches, 320);
    // 320 batches from 32 concurrent writers: commits must have been shared.
    // (Not a timing assertion: even a fast disk queues some writers while
    // the first commit is running, and a slow one queues more.)
    assert!(after.commits - before.commits < 320, "{after:?}");
    for w in 0..32 {
        for i in 0..10 {
            let key = format!("w{w}/{i}");
            assert_eq!(s.get(&key).await.unwrap().as_deref(), Some(key.as_bytes()));
        }
    }
}

/// A failing batch inside a group: the other batches of the group are
/// committed and acknowledged, the failing one leaves nothing behind (not
/// even the ops before its failing op) and its waiter gets the error.
#[test]
fn failing_batch_is_isolated_from_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).unwrap();
    let mut group = Vec::new();
    let mut answers = Vec::new();
    for ops in [
        vec![put("ok/1", b"a")],
        vec![
            put("bad/before", b"b"),
            put("POISON", b"c"),
            put("bad/after", b"d"),
        ],
        vec![put("ok/2", b"e"), del("ok/1")],
    ] {
        let (done, answer) = oneshot::channel();
        group.push(Pending { ops, done });
        answers.push(answer);
    }
    let poison = |table: &mut KvTable<'_>, ops: &[Op]| {
        for op in ops {
            if matches!(op, Op::Put(k, _) if k == "POISON") {
                return Err(redb::StorageError::Corrupted("injected failure".into()));
            }
            apply_ops(table, std::slice::from_ref(op))?;
        }
        Ok(())
    };
    let before = s.stats();
    let results = commit_group(&s.db, &group, &FileOptions::default(), &s.counters, poison);
    assert!(results[0].is_ok());
    let err = results[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("injected failure"), "{err}");
    assert!(results[2].is_ok());
    // Two good batches, each in its own commit after the shared one aborted.
    assert_eq!(s.stats().commits - before.commits, 2);
    drop(answers);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(s.get("ok/1").await.unwrap(), None); // deleted by batch 3, in order
        assert_eq!(s.get("ok/2").await.unwrap().as_deref(), Some(&b"e"[..]));
        assert_eq!(
            s.keys_with_prefix("bad/").await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(s.get("POISON").await.unwrap(), None);
    });
}

#[test]
fn failing_lone_batch_reports_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).unwrap();
    let (done, _answer) = oneshot::channel();
    let group = vec![Pending {
        ops: vec![put("a", b"secret-value")],
        done,
    }];
    let fail = |_: &mut KvTable<'_>, _: &[Op]| Err(redb::StorageError::Corrupted("nope".into()));
    let results = commit_group(&s.db, &group, &FileOptions::default(), &s.counters, fail);
    let err = results[0].as_ref().unwrap_err().to_string();
    assert!(
        !err.contains("secret-value"),
        "error must not echo the value: {err}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(s.get("a")).unwrap(), None);
}

#[tokio::test]
async fn options_two_phase_and_quick_repair_work() {
    let dir = tempfile::tempdir().unwrap();
    {
        let opts = FileOptions {
            two_phase_commit: true,
            quick_repair: true,
        };
        let s = FileStorage::open_with(dir.path(), opts).unwrap();
        s.put("k", b"v".to_vec()).await.unwrap();
    }
    let s = FileStorage::open(dir.path()).unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn drop_stops_writer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).unwrap();
    let db = Arc::downgrade(&s.db);
    assert_eq!(Arc::weak_count(&s.db), 1);
    assert_eq!(Arc::strong_count(&s.db), 2); // the handle and the writer thread
    drop(s);
    // `drop` returned only after joining the writer, which held the other
    // reference: the database is closed.
    assert!(db.upgrade().is_none());
}

// Crash test: see crash.rs. It needs SIGKILL, so Unix only.
#[cfg(unix)]
mod crash;

#[tokio::test]
async fn expectations_are_checked_in_the_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).unwrap();
    crate::tests::expect_semantics(&s).await;
}

/// Racing claims land in the same commit group: the second batch's
/// expectation is judged against the first's delete inside the shared
/// transaction, so exactly one wins, and a refused batch is not a failure of
/// its neighbours.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_claims_have_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(FileStorage::open(dir.path()).unwrap());
    crate::tests::racing_claims_have_one_winner(s.clone()).await;
    // Claims really raced: some were refused by their precondition (the rest
    // saw the value already gone).
    assert!(s.stats().failed_batches > 0);
}

#[cfg(unix)]
#[test]
fn created_private_and_wider_modes_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("a/b/data");
    let s = FileStorage::open(&dir).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DB_FILE_NAME)), 0o600);
    assert!(crate::permission_warnings(&dir).is_empty());
    drop(s);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join(DB_FILE_NAME), std::fs::Permissions::from_mode(0o644)).unwrap();
    let w = crate::permission_warnings(&dir);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("0755") && w[1].contains("0644"), "{w:?}");
    // Reopening an existing store keeps working (and does not change its modes).
    FileStorage::open(&dir).unwrap();
}
