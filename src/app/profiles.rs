//! Profiles: what people say about themselves beside their username (a
//! display name, their time zone), read by anyone in the workspace and
//! changed by their owner only.

use super::{App, RequestError};
use crate::model::{Profile, User, UserName, parse_display_name, parse_time_zone};

impl App {
    /// Anyone's profile, and whether they are online now. Everyone is in
    /// General, so a profile is no secret within the workspace.
    pub async fn profile(&self, name: &UserName) -> Result<(Profile, bool), RequestError> {
        let profile = self.store.profile(name).await?.ok_or(RequestError::UnknownUser)?;
        let online = self.hub.is_online(&profile.name);
        Ok((profile, online))
    }

    /// Changes the user's own display name and time zone (each `None`:
    /// left alone; empty: cleared); their profile afterwards.
    pub async fn update_profile(
        &self,
        user: &User,
        display_name: Option<String>,
        time_zone: Option<String>,
    ) -> Result<(Profile, bool), RequestError> {
        let display_name =
            display_name.as_deref().map(parse_display_name).transpose().map_err(RequestError::BadRequest)?;
        let time_zone =
            time_zone.as_deref().map(parse_time_zone).transpose().map_err(RequestError::BadRequest)?;
        if display_name.is_none() && time_zone.is_none() {
            return Err(RequestError::BadRequest("say what to change: display_name, time_zone or both"));
        }
        self.store.set_profile(user.id, display_name, time_zone).await?;
        let name = UserName::parse(&user.name).map_err(|_| RequestError::UnknownUser)?;
        self.profile(&name).await
    }
}
