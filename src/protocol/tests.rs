use super::*;

#[test]
fn parses_send_with_ref() {
    let parsed = parse_client_message(r#"{"type":"send","channel":1,"body":"hi","client_id":"c1","ref":7}"#)
        .expect("valid send");
    assert_eq!(
        parsed,
        ClientMessage::Send {
            channel: 1,
            body: "hi".into(),
            client_id: "c1".into(),
            reply_to: None,
            files: Vec::new(),
            reference: Some(serde_json::json!(7)),
        }
    );
}

#[test]
fn classifies_bad_input() {
    assert_eq!(parse_client_message("{oops").unwrap_err().0, ErrorCode::BadJson);
    assert_eq!(parse_client_message("[1,2]").unwrap_err().0, ErrorCode::BadJson);
    assert_eq!(parse_client_message(r#"{"type":"fly"}"#).unwrap_err().0, ErrorCode::UnknownType);
    assert_eq!(parse_client_message(r#"{"type":7}"#).unwrap_err().0, ErrorCode::UnknownType);
    assert_eq!(
        parse_client_message(r#"{"type":"send","channel":"x","body":"a","client_id":"c"}"#).unwrap_err().0,
        ErrorCode::BadRequest
    );
    assert_eq!(parse_client_message(r#"{"type":"ping","extra":1}"#).unwrap_err().0, ErrorCode::BadRequest);
}

#[test]
fn type_lists_match_the_enums() {
    // Every listed client type must parse from a minimal object of that type,
    // proving the list names real variants.
    let samples = [
        r#"{"type":"hello"}"#,
        r#"{"type":"send","channel":1,"body":"b","client_id":"c"}"#,
        r#"{"type":"edit","channel":1,"seq":1,"body":"b"}"#,
        r#"{"type":"delete","channel":1,"seq":1}"#,
        r#"{"type":"react","channel":1,"seq":1,"emoji":"e","add":true}"#,
        r#"{"type":"history","channel":1}"#,
        r#"{"type":"search","query":"q"}"#,
        r#"{"type":"create_channel","name":"n"}"#,
        r#"{"type":"update_channel","channel":1}"#,
        r#"{"type":"list_channels"}"#,
        r#"{"type":"join","channel":1}"#,
        r#"{"type":"leave","channel":1}"#,
        r#"{"type":"invite","channel":1,"user":"u"}"#,
        r#"{"type":"open_dm","user":"u"}"#,
        r#"{"type":"remove_member","channel":1,"user":"u"}"#,
        r#"{"type":"typing","channel":1}"#,
        r#"{"type":"read","channel":1,"seq":1}"#,
        r#"{"type":"list_users"}"#,
        r#"{"type":"profile","user":"u"}"#,
        r#"{"type":"update_profile"}"#,
        r#"{"type":"watch","users":["u"]}"#,
        r#"{"type":"members","channel":1}"#,
        r#"{"type":"notify","channel":1,"level":"mentions"}"#,
        r#"{"type":"list_accounts"}"#,
        r#"{"type":"update_account","user":"u"}"#,
        r#"{"type":"create_reset_link","user":"u"}"#,
        r#"{"type":"create_invite"}"#,
        r#"{"type":"list_invites"}"#,
        r#"{"type":"revoke_invite","id":1}"#,
        r#"{"type":"set_registration","mode":"open"}"#,
        r#"{"type":"ping"}"#,
    ];
    assert_eq!(samples.len(), CLIENT_MESSAGE_TYPES.len());
    for (sample, name) in samples.iter().zip(CLIENT_MESSAGE_TYPES) {
        assert!(sample.contains(&format!("\"{name}\"")), "{sample} is not {name}");
        parse_client_message(sample).unwrap_or_else(|e| panic!("{sample}: {e:?}"));
    }
}

#[test]
fn resume_points_are_a_seq_or_a_rev_with_what_is_held() {
    let hello =
        r#"{"type":"hello","resume":{"1":41,"7":{"seq":3,"rev":5,"held_from":1},"8":{"seq":2,"rev":9}}}"#;
    let Ok(ClientMessage::Hello { resume, .. }) = parse_client_message(hello) else { panic!("{hello}") };
    assert_eq!(resume["1"], ResumePoint::Seq(41));
    assert_eq!(resume["7"], ResumePoint::Rev { seq: 3, rev: 5, held_from: 1 });
    assert_eq!(resume["8"], ResumePoint::Rev { seq: 2, rev: 9, held_from: 0 }, "all held by default");
    for bad in [r#"{"1":"x"}"#, r#"{"1":{"seq":3}}"#, r#"{"1":{"rev":3}}"#] {
        let hello = format!(r#"{{"type":"hello","resume":{bad}}}"#);
        assert_eq!(parse_client_message(&hello).unwrap_err().0, ErrorCode::BadRequest, "{hello}");
    }
}

#[test]
fn docs_describe_every_socketio_event() {
    let docs = include_str!("../../docs/protocol.md");
    let section = docs.split("## Socket.IO").nth(1).expect("docs/protocol.md has a Socket.IO section");
    for name in socketio::CLIENT_EVENTS.iter().chain(socketio::SERVER_EVENTS) {
        assert!(section.contains(&format!("`{name}`")), "docs/protocol.md does not describe `{name}`");
    }
}

#[test]
fn socketio_payloads_have_the_tutorial_shapes() {
    let parsed: socketio::NewMessage = serde_json::from_value(serde_json::json!(
        {"sender": "mallory", "message": "hi", "channel": "General", "extra": 1}
    ))
    .expect("the tutorial's payload parses");
    assert_eq!((parsed.channel.as_str(), parsed.message.as_str(), parsed.client_id), ("General", "hi", None));
    let online: socketio::OnlineUsers = [("alice".to_owned(), true)].into();
    assert_eq!(serde_json::to_string(&online).unwrap(), r#"{"alice":true}"#);
    let error =
        socketio::ErrorEvent { code: ErrorCode::NameInUse, message: "m".into(), event: "new user".into() };
    assert_eq!(
        serde_json::to_value(&error).unwrap(),
        serde_json::json!({"code": "name_in_use", "message": "m", "event": "new user"})
    );
    assert_eq!(
        serde_json::to_string(&socketio::Ack { ok: true, ..Default::default() }).unwrap(),
        r#"{"ok":true}"#
    );
}

#[test]
fn docs_describe_every_message() {
    let docs = include_str!("../../docs/protocol.md");
    for name in CLIENT_MESSAGE_TYPES.iter().chain(SERVER_MESSAGE_TYPES) {
        assert!(docs.contains(&format!("\"type\":\"{name}\"")), "docs/protocol.md has no example of {name}");
    }
}

/// The largest message a client can make (a body of 4,000 four-byte
/// characters, 20 reaction kinds of the longest emoji with 50 names of 32
/// characters each, 50 mentions, a full quote, ten files whose names are
/// 255 quote marks, each escaped) still fits in one reply:
/// each of those limits bounds bytes, not only counts.
#[test]
fn the_largest_message_fits_in_a_reply() {
    use crate::model::{
        ChannelId, MAX_BODY_CHARS, MAX_MENTIONS, MAX_REACTION_KINDS, MAX_USER_NAME_CHARS, Mentions, Message,
        MessageId, QUOTE_CHARS, Quote, REACTION_NAMES_SHOWN, Reaction, Rev, Seq, UserId,
    };
    let longest_emoji = emojis::iter()
        .flat_map(|emoji| std::iter::once(emoji).chain(emoji.skin_tones().into_iter().flatten()))
        .map(|emoji| emoji.as_str())
        .max_by_key(|emoji| emoji.len())
        .expect("emoji");
    let name = "n".repeat(MAX_USER_NAME_CHARS);
    let reaction = Reaction {
        emoji: longest_emoji.to_owned(),
        count: u32::MAX,
        users: vec![name.clone(); REACTION_NAMES_SHOWN],
    };
    let message = Message {
        id: MessageId(i64::MAX),
        channel: ChannelId(i64::MAX),
        seq: Seq(i64::MAX),
        sender: UserId(1),
        sender_name: name.clone(),
        client_id: "\u{1F600}".repeat(crate::model::MAX_CLIENT_ID_CHARS),
        body: "\u{1F600}".repeat(MAX_BODY_CHARS),
        ts: i64::MAX,
        system: None,
        rev: Rev(i64::MAX),
        edited_at: Some(i64::MAX),
        deleted: None,
        reactions: vec![reaction; MAX_REACTION_KINDS],
        reply_to: Some(Quote {
            seq: Seq(i64::MAX),
            sender: name.clone(),
            excerpt: "\u{1F600}".repeat(QUOTE_CHARS),
        }),
        mentions: Mentions { users: vec![name; MAX_MENTIONS], channel: true },
        files: (0..crate::model::MAX_FILES_PER_MESSAGE)
            .map(|_| crate::model::Attachment {
                id: crate::model::FileId::generate(),
                name: "\"".repeat(crate::model::MAX_FILE_NAME_BYTES),
                size: u64::MAX,
                content_type: "application/vnd.openxmlformats-officedocument".into(),
                dimensions: Some((u32::MAX, u32::MAX)),
                thumbnail: true,
            })
            .collect(),
    };
    let frame = ServerMessage::Update(convert::message_info(&message)).to_json();
    assert!(frame.len() < crate::limits::MAX_REPLY_BYTES, "{} bytes", frame.len());
    // And as a search hit, with as many highlights as a hit may carry.
    let hit = SearchHitInfo {
        message: convert::message_info(&message),
        highlights: vec![[usize::MAX, usize::MAX]; crate::search::highlight::MAX_HIGHLIGHTS],
    };
    let reply = ServerMessage::SearchResults {
        hits: vec![hit],
        next: Some(i64::MAX.to_string()),
        reference: Some(serde_json::json!("r".repeat(64))),
    };
    let frame = reply.to_json();
    assert!(frame.len() < crate::limits::MAX_REPLY_BYTES, "{} bytes", frame.len());
}
