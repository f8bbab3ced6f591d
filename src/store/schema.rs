//! Diesel table definitions, portable across SQLite and PostgreSQL (see `migrations/`).

diesel::table! {
    roles (name) {
        name -> Text,
        description -> Text,
        permissions -> Text,
        builtin -> Bool,
        default_max_chats -> Integer,
        default_channels -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    agents (id) {
        id -> Text,
        external_id -> Nullable<Text>,
        user_name -> Text,
        display_name -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        formatted_name -> Nullable<Text>,
        nickname -> Nullable<Text>,
        title -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        employee_number -> Nullable<Text>,
        department -> Nullable<Text>,
        manager_id -> Nullable<Text>,
        role -> Text,
        permission_overrides -> Text,
        max_concurrent_chats -> Nullable<Integer>,
        status -> Text,
        login_blocked -> Bool,
        sessions_revoked_at -> Nullable<Timestamp>,
        password_hash -> Nullable<Text>,
        password_changed_at -> Nullable<Timestamp>,
        must_change_password -> Bool,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        source -> Text,
        source_key -> Nullable<Text>,
        last_seen_at -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        purge_after -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        sync_digest -> Nullable<Text>,
        sync_version -> Nullable<BigInt>,
        emails_inline -> Bool,
        phones_inline -> Bool,
        user_name_key -> Nullable<Text>,
        user_name_clash -> Text,
        search_text -> Nullable<Text>,
        sort_name -> Text,
        preferred_language -> Nullable<Text>,
    }
}

diesel::table! {
    agent_values (agent_id, attr, position) {
        agent_id -> Text,
        attr -> Text,
        position -> Integer,
        value -> Text,
        kind -> Nullable<Text>,
        is_primary -> Bool,
        display -> Nullable<Text>,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        external_id -> Nullable<Text>,
        display_name -> Text,
        source -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        display_name_key -> Nullable<Text>,
        display_name_clash -> Text,
    }
}

diesel::table! {
    group_members (group_id, member_id) {
        group_id -> Text,
        member_id -> Text,
        member_type -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    server_keys (name) {
        name -> Text,
        secret -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (name) {
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        agent_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        revoked_reason -> Nullable<Text>,
        mfa -> Bool,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
        reason -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::joinable!(agent_values -> agents (agent_id));
diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(sessions -> agents (agent_id));
diesel::allow_tables_to_appear_in_same_query!(
    roles,
    agents,
    agent_values,
    groups,
    group_members,
    api_tokens,
    sessions,
    audit_log,
);

diesel::table! {
    sync_runs (id) {
        id -> BigInt,
        source -> Text,
        mode -> Text,
        status -> Text,
        forced -> Bool,
        trigger -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        records -> Integer,
        created -> Integer,
        updated -> Integer,
        disabled -> Integer,
        enabled -> Integer,
        deleted -> Integer,
        linked -> Integer,
        error -> Nullable<Text>,
        plan -> Nullable<Text>,
        owner -> Nullable<Text>,
        source_rows -> Nullable<Integer>,
        bad_rows -> Nullable<Text>,
        snapshot_digest -> Nullable<Text>,
        disputes -> Nullable<Text>,
    }
}

diesel::table! {
    source_state (source) {
        source -> Text,
        cursor -> Nullable<Text>,
        cursor_kind -> Nullable<Text>,
        last_full_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        sync_cookie -> Nullable<Text>,
        usn_invocation_id -> Nullable<Text>,
        usn_highest -> Nullable<BigInt>,
        groups_digest -> Nullable<Text>,
        export_etag -> Nullable<Text>,
        export_last_modified -> Nullable<Text>,
        export_digest -> Nullable<Text>,
        replan_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    agent_links (source, source_key) {
        source -> Text,
        source_key -> Text,
        agent_id -> Text,
        linked_by -> Text,
        linked_at -> Timestamp,
        sync_digest -> Nullable<Text>,
        sync_version -> Nullable<BigInt>,
    }
}

diesel::table! {
    agent_schedule (agent_id) {
        agent_id -> Text,
        source -> Text,
        starts_at -> Nullable<Timestamp>,
        start_note -> Nullable<Text>,
        start_done_at -> Nullable<Timestamp>,
        leaves_at -> Nullable<Timestamp>,
        leave_note -> Nullable<Text>,
        leave_done_at -> Nullable<Timestamp>,
        terminated_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    imports (id) {
        id -> Text,
        actor -> Text,
        file_name -> Text,
        status -> Text,
        mode -> Text,
        dry_run -> Bool,
        row_count -> Integer,
        created -> Integer,
        updated -> Integer,
        unchanged -> Integer,
        errors -> Integer,
        report -> Nullable<Text>,
        report_csv -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    idempotency_keys (actor, idem_key) {
        actor -> Text,
        idem_key -> Text,
        method -> Text,
        path -> Text,
        body_hash -> Text,
        status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    credential_links (token_hash) {
        token_hash -> Text,
        agent_id -> Text,
        purpose -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    password_history (agent_id, changed_at) {
        agent_id -> Text,
        changed_at -> Timestamp,
        password_hash -> Text,
    }
}

diesel::table! {
    agent_mfa (agent_id) {
        agent_id -> Text,
        secret -> Text,
        last_step -> BigInt,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    recovery_codes (agent_id, code_hash) {
        agent_id -> Text,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    agent_addresses (agent_id, address) {
        agent_id -> Text,
        address -> Text,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::joinable!(credential_links -> agents (agent_id));
diesel::joinable!(agent_mfa -> agents (agent_id));
diesel::allow_tables_to_appear_in_same_query!(credential_links, agents);
diesel::allow_tables_to_appear_in_same_query!(agent_mfa, agents);

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        agent_id -> Nullable<Text>,
        recipient -> Text,
        language -> Nullable<Text>,
        template -> Text,
        parameters -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        retried_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> BigInt,
        name -> Text,
        url -> Text,
        secrets -> Text,
        events -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        origin -> Text,
        cursor -> BigInt,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        replay_event -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_ahead -> Text,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        endpoint_id -> BigInt,
        event_id -> BigInt,
        attempt -> Integer,
        at -> Timestamp,
        status -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> Integer,
    }
}
diesel::joinable!(agent_schedule -> agents (agent_id));
diesel::allow_tables_to_appear_in_same_query!(agent_schedule, agents);
diesel::joinable!(agent_links -> agents (agent_id));
diesel::allow_tables_to_appear_in_same_query!(agent_links, agents);
diesel::allow_tables_to_appear_in_same_query!(agent_links, agent_values);
