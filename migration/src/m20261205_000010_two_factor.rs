//! Two-factor sign-in: TOTP enrolments (`two_factors`), their single-use recovery codes
//! (`recovery_codes`), pending second steps of sign-ins (`mfa_challenges`), and
//! `companies.require_2fa`.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the two-factor tables and adds `companies.require_2fa`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

// See m20261122_000007_api_keys for the lifetime allowance.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TwoFactors::Table)
                    .col(big_integer(TwoFactors::UserId).primary_key())
                    // base64(nonce || XChaCha20-Poly1305 ciphertext) of the TOTP secret.
                    .col(string_len(TwoFactors::SecretEnc, 200))
                    // NULL while enrolment waits for its first code.
                    .col(timestamp_with_time_zone_null(TwoFactors::ConfirmedAt))
                    // The last accepted time step: a code is accepted once.
                    .col(big_integer_null(TwoFactors::LastUsedStep))
                    .col(integer(TwoFactors::Failures).default(0))
                    .col(timestamp_with_time_zone_null(TwoFactors::FailuresSince))
                    .col(timestamp_with_time_zone(TwoFactors::CreatedAt))
                    .col(timestamp_with_time_zone(TwoFactors::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_two_factors_user_id")
                            .from(TwoFactors::Table, TwoFactors::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(big_pk_auto(RecoveryCodes::Id))
                    .col(big_integer(RecoveryCodes::UserId))
                    // Hex HMAC-SHA256 of the code under SECRET_KEY.
                    .col(string_len(RecoveryCodes::CodeHash, 64))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .index(
                        Index::create()
                            .name("uq_recovery_codes_user_code")
                            .col(RecoveryCodes::UserId)
                            .col(RecoveryCodes::CodeHash)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_codes_user_id")
                            .from(RecoveryCodes::Table, RecoveryCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MfaChallenges::Table)
                    .col(big_pk_auto(MfaChallenges::Id))
                    // Hex HMAC-SHA256 of the token under SECRET_KEY.
                    .col(string_len(MfaChallenges::TokenHash, 64))
                    .col(big_integer(MfaChallenges::UserId))
                    // `verify` (enter a code) or `enrol` (set up 2FA first).
                    .col(string_len(MfaChallenges::Purpose, 16))
                    // How the first step was passed: `password`, `google`.
                    .col(string_len(MfaChallenges::Method, 32))
                    .col(integer(MfaChallenges::Failures).default(0))
                    .col(timestamp_with_time_zone(MfaChallenges::ExpiresAt))
                    .col(timestamp_with_time_zone(MfaChallenges::CreatedAt))
                    .index(
                        Index::create()
                            .name("uq_mfa_challenges_token_hash")
                            .col(MfaChallenges::TokenHash)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mfa_challenges_user_id")
                            .from(MfaChallenges::Table, MfaChallenges::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mfa_challenges_expires_at")
                    .table(MfaChallenges::Table)
                    .col(MfaChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Companies::Table)
                    .add_column(
                        ColumnDef::new(Companies::Require2fa)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Companies::Table)
                    .drop_column(Companies::Require2fa)
                    .to_owned(),
            )
            .await?;
        for table in [
            MfaChallenges::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            TwoFactors::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Companies {
    Table,
    #[sea_orm(iden = "require_2fa")]
    Require2fa,
}

#[derive(DeriveIden)]
enum TwoFactors {
    Table,
    UserId,
    SecretEnc,
    ConfirmedAt,
    LastUsedStep,
    Failures,
    FailuresSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
    Id,
    TokenHash,
    UserId,
    Purpose,
    Method,
    Failures,
    ExpiresAt,
    CreatedAt,
}
