//! `nipee keypackage …` and `nipee group …`: everything that publishes KeyPackages or
//! commits.

use nipee::GroupDataUpdate;
use serde_json::json;

use super::{Ctx, find_group, parse_people, parse_relays, report_commit};
use crate::args::{AdminsCommand, GroupCommand, KeypackageCommand};
use crate::output::Fail;

pub async fn keypackage(ctx: &mut Ctx, c: KeypackageCommand) -> Result<(), Fail> {
    let KeypackageCommand::Publish { last_resort } = c;
    let mut d = ctx.connect().await?;
    ctx.out
        .step("publishing a KeyPackage and waiting for the relays' acknowledgement");
    let event = d.publish_key_package(last_resort).await?;
    ctx.out.emit(
        format!("published KeyPackage {}", event.id().to_hex()),
        json!({"event_id": event.id().to_hex(), "last_resort": last_resort}),
    );
    Ok(())
}

pub async fn run(ctx: &mut Ctx, c: GroupCommand) -> Result<(), Fail> {
    if let GroupCommand::Create {
        name,
        description,
        invite,
    } = c
    {
        return create(ctx, &name, &description, &invite).await;
    }
    let group = match &c {
        GroupCommand::Invite { group, .. }
        | GroupCommand::Remove { group, .. }
        | GroupCommand::Rotate { group }
        | GroupCommand::Leave { group }
        | GroupCommand::Rename { group, .. }
        | GroupCommand::Describe { group, .. }
        | GroupCommand::Relays { group, .. }
        | GroupCommand::Admins(
            AdminsCommand::Add { group, .. } | AdminsCommand::Remove { group, .. },
        )
        | GroupCommand::CommitProposals { group } => group.clone(),
        GroupCommand::Create { .. } => return Ok(()),
    };
    // Check what can be checked before connecting.
    let people = match &c {
        GroupCommand::Invite { members, .. }
        | GroupCommand::Remove { members, .. }
        | GroupCommand::Admins(
            AdminsCommand::Add { members, .. } | AdminsCommand::Remove { members, .. },
        ) => parse_people(&ctx.config, members)?,
        _ => Vec::new(),
    };
    let relays = match &c {
        GroupCommand::Relays { urls, .. } => parse_relays(urls)?,
        _ => Vec::new(),
    };
    let mut d = ctx.connect_synced().await?;
    let gid = find_group(d.client(), &group)?;
    let step = |what: &str| format!("publishing the {what} commit and waiting for a group relay");
    let (action, result) = match c {
        GroupCommand::Invite { .. } => {
            ctx.out.step("fetching the invitees' KeyPackages");
            ("invite", d.invite(&gid, &people).await?)
        }
        GroupCommand::Remove { .. } => {
            ctx.out.step(step("remove"));
            ("remove", d.remove(&gid, &people).await?)
        }
        GroupCommand::Rotate { .. } => {
            ctx.out.step(step("rotate"));
            ("rotate", d.rotate(&gid).await?)
        }
        GroupCommand::Leave { .. } => {
            ctx.out.step("publishing the request to leave");
            d.leave(&gid).await?;
            ctx.out.emit(
                "asked to leave: the next commit of the request removes you (`nipee group commit-proposals`)",
                json!({"group": gid.to_hex(), "action": "leave", "result": "requested"}),
            );
            return Ok(());
        }
        GroupCommand::Rename { name, .. } => {
            ctx.out.step(step("rename"));
            let u = GroupDataUpdate::new().name(name);
            ("rename", d.update_group_data(&gid, u).await?)
        }
        GroupCommand::Describe { text, .. } => {
            ctx.out.step(step("describe"));
            let u = GroupDataUpdate::new().description(text);
            ("describe", d.update_group_data(&gid, u).await?)
        }
        GroupCommand::Relays { .. } => {
            ctx.out.step(step("relays"));
            let u = GroupDataUpdate::new().relays(relays);
            ("relays", d.update_group_data(&gid, u).await?)
        }
        GroupCommand::Admins(a) => {
            let mut admins = d.client().group_data(&gid)?.admins;
            let action = match a {
                AdminsCommand::Add { .. } => {
                    for p in &people {
                        if !admins.contains(p) {
                            admins.push(*p);
                        }
                    }
                    "admins add"
                }
                AdminsCommand::Remove { .. } => {
                    admins.retain(|a| !people.contains(a));
                    if admins.is_empty() {
                        return Err(Fail::input(
                            "a group needs at least one admin: add another admin first",
                        ));
                    }
                    "admins remove"
                }
            };
            ctx.out.step(step(action));
            let u = GroupDataUpdate::new().admins(admins);
            (action, d.update_group_data(&gid, u).await?)
        }
        GroupCommand::CommitProposals { .. } => {
            ctx.out.step(step("proposals"));
            ("commit-proposals", d.commit_pending_proposals(&gid).await?)
        }
        GroupCommand::Create { .. } => return Ok(()),
    };
    report_commit(&mut ctx.out, action, &gid, result)
}

async fn create(
    ctx: &mut Ctx,
    name: &str,
    description: &str,
    invite: &[String],
) -> Result<(), Fail> {
    if name.trim().is_empty() {
        return Err(Fail::usage(
            "a group needs a name: `nipee group create NAME`",
        ));
    }
    let people = parse_people(&ctx.config, invite)?;
    let mut d = ctx.connect().await?;
    if !people.is_empty() {
        ctx.out.step("fetching the invitees' KeyPackages");
    }
    let gid = d.create_group(name, description, &people).await?;
    let nostr_group_id = d.client().group(&gid)?.nostr_group_id;
    ctx.out.emit(
        format!("created {name} ({})", gid.to_hex()),
        json!({"group": gid.to_hex(), "nostr_group_id": nostr_group_id.to_hex(), "name": name,
               "invited": people.iter().map(|p| p.to_hex()).collect::<Vec<_>>()}),
    );
    Ok(())
}
